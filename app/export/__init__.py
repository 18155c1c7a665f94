"""The export dialog (output size, model, format; background export with progress)."""

"""The zoomable view: viewport math, render levels, tile cache, painting and input."""

"""The viewport renderer: only the visible pixels, cancellable, in bounded memory.

* :mod:`.session` -- :class:`~.session.RenderSession` (one image + model + device + precision):
  ``render(region, out_size, should_stop)``, ``render_alpha``, ``prefetch``, ``encode_step``.
* :mod:`.fixed` -- :class:`~.fixed.FixedScaleSession`: a fixed-scale model of another project at its
  native scale, in cached LR tiles, resampled.
* :mod:`.stopping` -- :class:`~.stopping.RenderCancelled` and the stop plumbing every source shares
  (:class:`~.stopping.Stoppable`).
* :mod:`.sources` -- the :class:`~.sources.RenderSource` protocol (what export, the CLI and the
  app render from), :class:`~.sources.BicubicSession`, the one
  :class:`~.sources.SourceDescriptor` and :func:`~.sources.open_source` for every kind of model
  (the kinds in one table), and :class:`~.sources.SessionPool` (the sources of the current
  image, render thread only).
* :mod:`.resample` -- :class:`~.resample.ResampledSource`: outputs at or below the input's size,
  antialiased, no model.
* :mod:`.features` -- the model's per-LR-pixel precompute per LR tile with a halo, LRU cache
  bounded in bytes.
* :mod:`.tiles` -- tile plans, nearest a focus point (the cursor) first.
* :mod:`.planner` -- :class:`~.planner.RequestPlanner`: what each view asks the worker for.
* :mod:`.worker` -- :class:`~.worker.RenderWorker`, the one render thread (no Qt): bounded steps,
  nearest the focus first, views before exports.
* :mod:`.export` -- ``export_image`` / ``export_steps``: bands of rows rendered in bounded chunks
  and handed to a writer of :mod:`cisr_zoom.core.imagewrite`, atomic.
* :mod:`.estimate` -- the :class:`~.estimate.SpeedBook` (render speed per model, device and
  precision) and export time estimates.
* :mod:`.benchmark` -- the measurements behind ``cisr bench``.

The model is used only through :class:`cisr_zoom.core.models.decoder.ImplicitDecoder` and its
:class:`~cisr_zoom.core.models.decoder.ModelDescriptor`; precisions are in
:mod:`cisr_zoom.core.precision`. Coordinates follow :mod:`cisr_zoom.core.coords`.
"""

"""VToonify Studio panel: a PySide6 client of the engine protocol.

The panel never runs the model. It builds job settings (``engine.pipeline.config.RenderConfig``
fields), sends them to an engine process through ``engine.service.client`` on worker threads, and
shows replies and events that come back as Qt signals. Modules without ``Qt`` in their job
(``job_records``, ``capabilities``, ``sources``, ``source_info``, ``output_policy``, ``job_form``,
``presets``, ``wording``) are plain Python and tested without a display. Choices, defaults and the
sequence-name grammar come from ``engine.service.catalog``, shared with the engine and the add-on.
"""

from ui.refcount_guard import protect_singletons

protect_singletons()  # before any Qt call: some PySide6 wheels take references from None on Python 3.11

"""A sweep's description, resolved before anything starts: its settings (``settings``,
``sweep_config``), the loss families' search spaces (``spaces``), presets (``presets``), the
objective (``objectives``), the spec checks (``preflight``) and the saved state of a sweep
(``state``). Neither Ray nor the training loop is imported here.
"""

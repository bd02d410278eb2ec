"""The runtime: Ray Train, Ray Tune and MLflow around the plain-PyTorch training core.

The Ray Train adapter (``ray_train``, ``trainer``), the Tune engine of a sweep (``tuning``,
``trial``, ``searcher``, ``schedulers``, ``journal``, ``retries``, ``live``), one writer per
sweep (``lease``), failures and local Ray (``failures``, ``cluster``, ``local_ray``), and the
MLflow runs of evaluations (``evaluation_runs``, ``evaluation_runner``). Nothing below this
layer imports Ray. Import the modules themselves; this package re-exports nothing, so
importing one of them does not start the others.
"""

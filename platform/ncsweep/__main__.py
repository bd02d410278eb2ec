"""``python -m ncsweep``: the ``ncsweep`` command."""

from .cli import main

if __name__ == "__main__":
    main()

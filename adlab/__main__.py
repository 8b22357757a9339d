"""``python -m adlab`` is the same as the ``adlab`` console script."""
from adlab.cli import main

if __name__ == "__main__":
    main()

"""`python -m keyplane.cli`: the same as the `keyplane` console script."""

from keyplane.cli import main

if __name__ == "__main__":  # not when a spawned worker imports this module as __mp_main__
    main()

"""`python -m physsim` is the same as the `physsim` command."""

from physsim.cli import main

if __name__ == "__main__":
    main()

"""Allow ``python -m lime_cli``."""

from lime_cli.cli import main

if __name__ == "__main__":
    main()

"""``python -m hub.cli``: the ``enlace`` command where its script is not installed."""

from hub.cli import main

__all__: list[str] = []

if __name__ == "__main__":  # importing the module (a layout check, say) runs nothing
    main()

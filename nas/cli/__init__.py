"""The ``nas`` command line (:func:`nas.cli.main.main`); each sub-command is a module of this package."""

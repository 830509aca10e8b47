"""What every command shares: options, settings, the executor and the output loop.

Nothing here knows a modality by name; modalities plug in through
``lime_cli.modalities``.
"""

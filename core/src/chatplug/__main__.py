"""``python -m chatplug``: the ``chatplug`` command."""

from chatplug.cli import main

raise SystemExit(main())

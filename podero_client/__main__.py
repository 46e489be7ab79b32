"""``python -m podero_client``, the same as the ``podero-client`` command."""

from ._cli import main

raise SystemExit(main())

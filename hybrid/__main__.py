from .lean import skip_triton

skip_triton()  # before anything imports torch: ~76 MB less per CLI process (see lean.py)

from .cli import main  # noqa: E402

raise SystemExit(main())

import os
import sys

# One thread per job, NumPy's BLAS included (torch's own pool is set in ppo.run.seeding): Snakemake runs one
# job per core, and OpenBLAS would otherwise start a thread per core for the policy's small matmuls, which
# costs more than it saves. Set before NumPy is imported; a user's explicit setting wins.
for _variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")

from ppo.cli import main  # noqa: E402

sys.exit(main())

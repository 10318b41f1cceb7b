"""Checks after the SLURM workflow run (called by run-cluster-test.sh): every non-local job was submitted
through sbatch and allocated by slurmctld, each left a SLURM log, and the report is complete."""

import json
import re
import sys
from pathlib import Path

work, ctld_log = Path(sys.argv[1]), Path(sys.argv[2])
snakemake_log = max((work / ".snakemake" / "log").glob("*.snakemake.log"), key=lambda p: p.stat().st_mtime).read_text()

# Single jobs are named by number, group jobs by a UUID.
submitted = re.findall(r"Job \S+ has been submitted with SLURM jobid (\d+)", snakemake_log)
# The main scheduler logs "Allocate JobId=N", the backfill scheduler "Started JobId=N".
allocated = set(re.findall(r"(?:Allocate|Started) JobId=(\d+)", ctld_log.read_text()))
slurm_logs = sorted((work / ".snakemake" / "slurm_logs").rglob("*.log"))
log_ids = {p.stem for p in slurm_logs}
local = re.findall(r"^localrule (\w+):", snakemake_log, flags=re.M)

problems = []
# 24 training jobs (CartPole-v1 x 6 agents, sb3-ppo, the external example program and the tuning study's variant
# included, LunarLander-v3 x 4 with the external program, Hopper-v5 x 2; 2 seeds each), one group job per env
# (aggregate, plot, rollouts, page; CartPole's also the study's verdict), the tuning study's two workers (sharing
# one journal file) and its export, the comparison, the report; then the comparison in waves: 2 waves x 3 seeds x
# 2 agents trained, a test after each wave, the decisions.
if len(set(submitted)) != 47:
    count = len(set(submitted))
    problems.append(
        f"{count} jobs were submitted to SLURM; expected 24 training jobs, 3 group jobs, 3 tuning jobs, compare and the "
        "report, and the waves' 12 training jobs, 2 tests and decisions"
    )
if not set(submitted) <= allocated:
    problems.append(f"jobs {sorted(set(submitted) - allocated)} were never allocated by slurmctld")
if not set(submitted) <= log_ids:
    problems.append(f"jobs {sorted(set(submitted) - log_ids)} left no SLURM log")
if set(local) - {"resolved_config", "all"}:
    problems.append(f"rules {sorted(set(local))} ran on the submitting host")
pages = ("CartPole-v1", "LunarLander-v3", "Hopper-v5")
for path in ("report/README.md", "report/index.html", *(f"report/envs/{env}.md" for env in pages)):
    if not (work / path).is_file() or (work / path).stat().st_size == 0:
        problems.append(f"{path} is missing")
trained = list((work / "results" / "runs").rglob("run.json"))
if len(trained) != 36:
    problems.append(f"{len(trained)} finished runs; expected 24 and the waves' 12")
external = [json.loads(p.read_text()) for p in trained if p.parent.parent.name == "minimal-ppo"]
if len(external) != 4 or any(run["outside"]["kind"] != "command" for run in external):
    problems.append(f"{len(external)} runs of the external agent (minimal-ppo) recorded as run by their command; expected 4")
waves = work / "results" / "comparisons" / "CartPole-v1_ppo_vs_random"
records = sorted(p.name for p in waves.glob("wave*.json"))
if records != ["wave1.json", "wave2.json"]:
    problems.append(f"the comparison's wave records are {records}; expected waves 1 and 2")
if "## Comparisons" not in (work / "report" / "README.md").read_text():
    problems.append("the report has no Comparisons section")
if not (work / "results" / "tuning" / "cartpole-study" / "best.yaml").is_file():
    problems.append("the tuning study's best.yaml is missing")
groups = [p for p in slurm_logs if "group" in str(p)]
print(f"{len(submitted)} SLURM jobs ({len(groups)} group jobs), all allocated by slurmctld, {len(slurm_logs)} SLURM logs")
if problems:
    sys.exit("\n".join(problems))

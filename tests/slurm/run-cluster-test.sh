#!/usr/bin/env bash
# A real single-node SLURM cluster on this machine, and the tiny workflow run through it with the slurm
# profile (snakemake-executor-plugin-slurm). Run as root on Debian: `make test-slurm` (also in .ci/run).
#
#   1. installs slurmctld, slurmd, slurm-client and munge if missing;
#   2. writes a minimal slurm.conf (this host the only node, one partition, no accounting database,
#      proctrack/linuxproc and task/none so no cgroups are needed) into a temporary directory;
#   3. starts munged, slurmctld and slurmd, and waits for the node to be idle;
#   4. runs `snakemake --profile workflow/profiles/slurm` on config/smoke.yaml plus one comparison in waves, in a
#      copy of the workflow;
#   5. checks that every job went through the scheduler (one SLURM log per job, and the job ids in
#      slurmctld's log) and that the report is complete;
#   6. preemption: a longer training job is cancelled through SLURM (scancel) once it has a checkpoint;
#      Snakemake's retry must resume it from the checkpoint (its log says so);
#   7. stops the daemons it started, by pid, whatever happened (trap, also on Ctrl-C and SIGTERM).
# Every step runs under `timeout`, so a scheduler problem fails in minutes instead of hanging CI; a job that
# pends for a reason that can never clear (PartitionConfig, ReqNodeNotAvail, ...) fails the test at once,
# with the reason. The node's size comes from the machine (`nproc --all`), never from OMP_NUM_THREADS,
# which GNU nproc honours; SIMULATE_CORES=1 pretends the machine has one core.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
PYTHON=${PYTHON:-$ROOT/.venv/bin/python}
BIN=$(dirname "$PYTHON")
WORKFLOW_TIMEOUT=${WORKFLOW_TIMEOUT:-900}
say() { printf '[slurm-test] %s\n' "$*"; }

[ "$(id -u)" = 0 ] || { echo "run-cluster-test.sh: needs root (it starts slurmctld, slurmd and munged)" >&2; exit 2; }
"$PYTHON" -c "import snakemake_executor_plugin_slurm" 2>/dev/null || {
  echo "run-cluster-test.sh: the SLURM executor plugin is missing; run: $BIN/pip install -e '$ROOT[slurm]'" >&2; exit 2; }

if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null || ! command -v sbatch >/dev/null ||
  ! command -v munged >/dev/null; then
  say "installing Debian's slurmctld slurmd slurm-client munge"
  timeout 600 apt-get update -qq
  DEBIAN_FRONTEND=noninteractive timeout 900 apt-get install -y -qq --no-install-recommends \
    slurmctld slurmd slurm-client munge >/dev/null
fi

TMP=$(mktemp -d /tmp/ppo-bench-slurm.XXXXXX)
PIDS=()
cleanup() {
  local status=$?
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  sleep 1
  for pid in "${PIDS[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
  if [ "$status" != 0 ]; then
    say "FAILED (exit $status); daemon and SLURM job logs:"
    tail -n 30 "$TMP"/log/slurm*.log 2>/dev/null || true
    grep -v "Unauthorized credential" "$TMP"/munge/munged.log 2>/dev/null | tail -n 5 || true
    find "$TMP/workflow/.snakemake/slurm_logs" -name '*.log' 2>/dev/null | head -n 3 | xargs -r tail -n 20
  fi
  [ -n "${CREATED_CONF:-}" ] && rm -f "$CREATED_CONF"
  [ -n "${KEEP_TMP:-}" ] && say "kept $TMP" || rm -rf "$TMP"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT   # Ctrl-C or SIGTERM: exit through the EXIT trap, which stops the daemons
trap 'exit 143' TERM
# Bash runs a trap only when its foreground command returns: every wait below polls with short sleeps, so
# a signal is handled within a second or two.

# wait_until SECONDS WHAT COMMAND...: poll COMMAND every half second; fail after SECONDS.
wait_until() {
  local seconds=$1 what=$2; shift 2
  local deadline=$((SECONDS + seconds))
  until "$@" >/dev/null 2>&1; do
    [ "$SECONDS" -lt "$deadline" ] || { say "timed out after ${seconds}s waiting for $what"; return 1; }
    sleep 0.5
  done
}

NODE=$(hostname -s)
# Twice the cores as SLURM CPUs, and at least 8 (config_overrides lets slurmd accept that): a group job
# asks for the cores of all its parallel parts (CartPole's: 4 rollouts, the external agent's among them, its
# plot and study verdict; 4 CPUs left it pending forever, "PartitionConfig"), and more jobs overlap the
# executor's polling. `nproc --all`: GNU nproc alone honours OMP_NUM_THREADS (HPC shells set it to 1).
CORES=${SIMULATE_CORES:-$(nproc --all)}
CPUS=$((CORES * 2 > 8 ? CORES * 2 : 8))
MEM_MB=$(($(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 - 1024))
mkdir -p "$TMP"/{etc,log,spool/ctld,spool/d,munge,run}
chmod 755 "$TMP"  # munged runs as the munge user and must reach its own directory
chown munge:munge "$TMP/munge"

cat >"$TMP/etc/slurm.conf" <<EOF
ClusterName=ppobench
SlurmctldHost=$NODE
SlurmUser=root
AuthType=auth/munge
AuthInfo=socket=$TMP/munge/munge.socket
CredType=cred/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
# Finished jobs stay visible to squeue for MinJobAge seconds: the executor polls squeue (no sacct here).
MinJobAge=300
ReturnToService=2
SlurmdParameters=config_overrides
StateSaveLocation=$TMP/spool/ctld
SlurmdSpoolDir=$TMP/spool/d
SlurmctldPidFile=$TMP/run/slurmctld.pid
SlurmdPidFile=$TMP/run/slurmd.pid
SlurmctldLogFile=$TMP/log/slurmctld.log
SlurmdLogFile=$TMP/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
NodeName=$NODE CPUs=$CPUS RealMemory=$MEM_MB State=UNKNOWN
PartitionName=test Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
EOF
export SLURM_CONF=$TMP/etc/slurm.conf
# srun inside a batch job (the executor's job step) finds the config only at its compiled-in default
# path, not through SLURM_CONF: put it there for the test, and take it away again in cleanup.
SYSTEM_CONF=/etc/slurm/slurm.conf
if [ -e "$SYSTEM_CONF" ] && ! grep -q "^ClusterName=ppobench" "$SYSTEM_CONF"; then
  echo "run-cluster-test.sh: $SYSTEM_CONF exists and is not this test's; refusing to touch a real cluster's config" >&2
  exit 2
fi
mkdir -p "$(dirname "$SYSTEM_CONF")"
cp "$SLURM_CONF" "$SYSTEM_CONF"
CREATED_CONF=$SYSTEM_CONF

say "starting munged"
[ -s /etc/munge/munge.key ] || { mkdir -p /etc/munge; (command -v mungekey >/dev/null && mungekey -c -k /etc/munge/munge.key) ||
  dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key 2>/dev/null; chown munge:munge /etc/munge/munge.key; chmod 400 /etc/munge/munge.key; }
runuser -u munge -- munged --socket="$TMP/munge/munge.socket" --pid-file="$TMP/munge/munged.pid" \
  --log-file="$TMP/munge/munged.log" --seed-file="$TMP/munge/seed"
for _ in $(seq 50); do [ -s "$TMP/munge/munged.pid" ] && break; sleep 0.1; done
PIDS+=("$(cat "$TMP/munge/munged.pid")")

say "starting slurmctld and slurmd"
slurmctld -f "$SLURM_CONF"
for _ in $(seq 100); do [ -s "$TMP/run/slurmctld.pid" ] && break; sleep 0.1; done
PIDS+=("$(cat "$TMP/run/slurmctld.pid")")
slurmd -f "$SLURM_CONF"
for _ in $(seq 100); do [ -s "$TMP/run/slurmd.pid" ] && break; sleep 0.1; done
PIDS+=("$(cat "$TMP/run/slurmd.pid")")

say "waiting for node $NODE to be idle"
node_idle() { sinfo -h -N -o '%t' | grep -qx idle; }
wait_until 90 "the node to be idle" node_idle
sinfo

WORK=$TMP/workflow
mkdir -p "$WORK"
cp -r "$ROOT/Snakefile" "$ROOT/environment.yml" "$ROOT/workflow" "$ROOT/config" "$ROOT/examples" "$WORK/"
cd "$WORK"
export PATH=$BIN:$PATH SDL_VIDEODRIVER=dummy

# Pending reasons that never clear on their own: the job can never start on this cluster.
HOPELESS='PartitionConfig|ReqNodeNotAvail|PartitionNodeLimit|PartitionTimeLimit|BadConstraints|InvalidQOS|Nodes_required_for_job_are_DOWN'

# run_workflow LOG ARGS...: the workflow through the slurm profile, under a watchdog. Site settings of this
# test cluster: its partition, no account, squeue for job status (no sacct), one env's tiny jobs per group
# job. Snakemake gets SIGINT, not SIGTERM, to stop: SIGINT cancels its SLURM jobs (scancel) and exits,
# where SIGTERM leaves it waiting for pending jobs.
run_workflow() {
  local log=$1; shift
  timeout -s INT -k 90 "$WORKFLOW_TIMEOUT" "$BIN/snakemake" --profile "$ROOT/workflow/profiles/slurm" \
    --default-resources slurm_partition=test mem_mb=1000 runtime=30 "slurm_extra='--signal=TERM@120'" \
    --slurm-no-account \
    --slurm-status-command squeue --slurm-init-seconds-before-status-checks 2 --slurm-keep-successful-logs \
    --group-components report=1 --jobs 8 "$@" >"$log" 2>&1 &
  local snakemake_pid=$!
  while kill -0 "$snakemake_pid" 2>/dev/null; do
    local stuck
    stuck=$(squeue -h -t PD -o '%i %j %r' 2>/dev/null | grep -E " ($HOPELESS)" | head -n 1 || true)
    if [ -n "$stuck" ]; then
      say "a job can never start here (job, name, pending reason): $stuck"
      scontrol show job "${stuck%% *}" | grep -E 'NumCPUs|MinMemory|Partition|Reason' || true
      kill -INT "$snakemake_pid" 2>/dev/null || true
      wait "$snakemake_pid" || true
      return 1
    fi
    sleep 2
  done
  wait "$snakemake_pid" || { tail -n 60 "$log"; return 1; }
}

say "running the tiny workflow through the slurm profile"
# The smoke config plus one comparison in waves (ppo against random on CartPole, 2 waves of 3 seeds: waves of 3
# cannot decide after the first, so both always run): its training jobs and tests go through SLURM like any job.
"$PYTHON" - <<'PY'
import yaml
config = yaml.safe_load(open("config/smoke.yaml"))
config["comparisons"] = [{"env": "CartPole-v1", "agents": ["ppo", "random"], "alpha": 0.05, "wave": 3, "waves": 2}]
yaml.safe_dump(config, open("config/slurm.yaml", "w"))
PY
run_workflow "$TMP/log/snakemake.log" --configfile config/slurm.yaml

say "checking that every job went through SLURM"
"$PYTHON" "$ROOT/tests/slurm/check_slurm_run.py" "$WORK" "$TMP/log/slurmctld.log"

say "preemption: cancelling a training job that has a checkpoint; its retry must resume"
# One CartPole job, long enough to be caught running, checkpointing every 4 iterations.
"$PYTHON" - <<'PY'
import yaml
config = yaml.safe_load(open("config/smoke.yaml"))
config["envs"]["CartPole-v1"].update(total_timesteps=100_000, eval_every=50_000)
config["checkpoints"] = {"iterations": 4}
yaml.safe_dump(config, open("config/preempt.yaml", "w"))
PY
RUN=results/runs/CartPole-v1/ppo/seed0
rm -rf "$RUN"
run_workflow "$TMP/log/preempt.log" "$RUN/run.json" --configfile config/preempt.yaml &
WORKFLOW=$!
checkpointed() { [ -e "$RUN/checkpoint.pt" ] || ! kill -0 "$WORKFLOW"; }
wait_until 300 "a checkpoint" checkpointed || exit 1
[ -e "$RUN/checkpoint.pt" ] || { say "the workflow ended before the job checkpointed"; tail -n 30 "$TMP/log/preempt.log"; exit 1; }
JOB=$(squeue -h -t R -o '%i' | head -n 1)
say "scancel of running job $JOB"
scancel "$JOB"
wait "$WORKFLOW" || { say "the retried workflow failed"; exit 1; }
grep -h "resuming from the checkpoint at step" logs/train/CartPole-v1/ppo/seed0.log ||
  { say "the retry did not resume from the checkpoint"; tail -n 20 logs/train/CartPole-v1/ppo/seed0.log; exit 1; }
[ -e "$RUN/run.json" ] && [ ! -e "$RUN/checkpoint.pt" ] || { say "the resumed run did not complete"; exit 1; }
say "passed"

#!/usr/bin/env bash
# End-to-end test of scripts/slurm/embed-array.sbatch on a real one-node Slurm cluster started on this
# machine. It installs slurm-wlm and munge (Debian/Ubuntu) when missing; starts munged, slurmctld and
# slurmd from a configuration generated in a temporary folder (the system's Slurm and munge setup is
# neither read nor touched); embeds a generated FASTA file with the tiny ESM-2 fixture as a job array;
# requeues task 0 (while it runs when it can be caught running) so that it has to resume; merges the
# parts and checks the result and its ids equal an unsharded run byte for byte (each record embedded
# alone, --toks-per-batch 1, which is when parts give exactly the whole run's bytes). Whatever it started
# is stopped, and its folder removed, on every exit; a second run first stops what a killed run left.
#
#   bash scripts/slurm/smoke.sh
#
# Needs root: run as a normal user it builds mmattn, then runs the rest with sudo. Environment:
#   MMATTN=path        the mmattn binary to test (default: `swift build --product mmattn`, debug)
#   SMOKE_SWIFT_ARGS   more arguments for that swift build (e.g. --scratch-path DIR, -c release)
#   SMOKE_SHARDS=3     tasks in the array
#   SMOKE_RECORDS=600  records in the generated FASTA file
#   SMOKE_TIMEOUT=600  seconds everything after the build may take
#   SMOKE_KEEP=1       keep the temporary folder (configuration, logs, parts) until the next run
# Exits 0 only when every check held; otherwise it says what failed and prints the logs.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
script=$repo/scripts/slurm/smoke.sh
sbatch_script=$repo/scripts/slurm/embed-array.sbatch
timeout=${SMOKE_TIMEOUT:-600}

# Outer part: build, then the rest as root under a hard time limit.
if [ -z "${SMOKE_INNER:-}" ]; then
    if [ -z "${MMATTN:-}" ]; then
        echo "smoke: building mmattn (debug; set MMATTN=path to skip)" >&2
        (cd "$repo" && timeout 3600 swift build --product mmattn ${SMOKE_SWIFT_ARGS:-})
        MMATTN=$(cd "$repo" && swift build --show-bin-path ${SMOKE_SWIFT_ARGS:-})/mmattn
    fi
    [ -x "$MMATTN" ] || { echo "smoke: MMATTN=$MMATTN is not an executable" >&2; exit 1; }
    MMATTN=$(realpath "$MMATTN")
    sudo=()
    [ "$(id -u)" -eq 0 ] || sudo=(sudo)
    rc=0
    "${sudo[@]}" timeout --kill-after=30 "$timeout" env SMOKE_INNER=1 MMATTN="$MMATTN" \
        SMOKE_SHARDS="${SMOKE_SHARDS:-3}" SMOKE_RECORDS="${SMOKE_RECORDS:-600}" SMOKE_KEEP="${SMOKE_KEEP:-}" \
        bash "$script" || rc=$?
    [ "$rc" -ne 124 ] || echo "smoke: FAILED: not done within SMOKE_TIMEOUT=$timeout s" >&2
    exit "$rc"
fi

# The caller's Slurm settings would steer sbatch and the array script; this cluster is the test's own.
unset MMATTN_SHARDS $(compgen -e | grep -E '^(SLURM|SBATCH|SRUN|SALLOC)_' || true)
shards=$SMOKE_SHARDS
records=$SMOKE_RECORDS
[[ $shards =~ ^[1-9][0-9]*$ && $records =~ ^[1-9][0-9]*$ ]] || { echo "smoke: SMOKE_SHARDS and SMOKE_RECORDS must be positive integers" >&2; exit 2; }
start=$SECONDS
say() { echo "smoke: [$((SECONDS - start))s] $*" >&2; }
fail() { say "FAILED: $*"; exit 1; }

# One run at a time. The daemons are started without this descriptor, so a leftover daemon never
# holds the lock.
tmp=${TMPDIR:-/tmp}
exec 9>"$tmp/mmattn-slurm-smoke.lock"
flock -n 9 || fail "another smoke run is going on (lock $tmp/mmattn-slurm-smoke.lock)"

# The processes of a run: those with MMATTN_SLURM_SMOKE=<its folder> in their environment (the
# daemons, jobs and mmattn runs it starts) and those holding a file in its folder open (slurmstepd,
# which clears its environment but keeps slurmd's log open). $1 is the folder as an extended regex.
# That is how cleanup, and a later run after a kill -9, stop exactly what a run started.
owned() {
    local d p
    for d in /proc/[0-9]*; do
        p=${d#/proc/}
        [ "$p" != $$ ] && [ "$p" != "$BASHPID" ] || continue
        if tr '\0' '\n' 2>/dev/null <"$d/environ" | grep -Eq "^MMATTN_SLURM_SMOKE=$1\$" ||
            ls -l "$d/fd" 2>/dev/null | grep -Eq -- "-> $1/"; then
            echo "$p"
        fi
    done
    return 0
}
stop_owned() {
    local pids
    pids=$(owned "$1")
    [ -n "$pids" ] || return 0
    kill $pids 2>/dev/null || true
    for _ in $(seq 1 10); do
        pids=$(owned "$1")
        [ -n "$pids" ] || return 0
        sleep 0.5
    done
    kill -KILL $pids 2>/dev/null || true
}
regex() { printf '%s' "$1" | sed 's/[][\\.*^$()+?{}|]/\\&/g'; }
earlier="$(regex "$tmp")/mmattn-slurm-smoke\.[A-Za-z0-9]{6}"
stale=$(owned "$earlier")
if [ -n "$stale" ]; then
    say "stopping processes left by an earlier run: ${stale//$'\n'/ }"
    stop_owned "$earlier"
fi
rm -rf "$tmp"/mmattn-slurm-smoke.?????? # the folders of earlier runs (the lock is .lock)

# Packages.
missing=()
for p in slurm-wlm munge; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    say "installing ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

run=$(mktemp -d "$tmp/mmattn-slurm-smoke.XXXXXX")
chmod 755 "$run" # munged wants the folders above its socket open to all
mkdir -m 700 "$run/munge-key"
mkdir -m 755 "$run/munge" "$run/state" "$run/spool" "$run/log" "$run/job"
export SLURM_CONF=$run/slurm.conf
submitted="" # job ids, for cleanup
jobid="" again="" wrong=""
ctld=""     # slurmctld's pid
ok=0

# The jobs' logs, then the daemons' (their stderr only when they failed before opening their log).
show_logs() {
    local f d lines
    for f in "$run"/job/*.log "$run"/log/single.out "$run"/log/merge.out "$run"/log/{munged,slurmctld,slurmd}.log; do
        [ -s "$f" ] || continue
        case $f in "$run"/job/*) lines=40 ;; *) lines=15 ;; esac
        echo "----- ${f#"$run"/} (last $lines lines)" >&2
        tail -n "$lines" "$f" >&2
    done
    for d in slurmctld slurmd; do
        [ -s "$run/log/$d.log" ] || [ ! -s "$run/log/$d.out" ] || { echo "----- log/$d.out" >&2; tail -n 15 "$run/log/$d.out" >&2; }
    done
}
cleanup() {
    local rc=$?
    set +e
    trap - EXIT INT TERM
    [ "$ok" -eq 1 ] || show_logs
    # Jobs first, so that slurmd sees its job steps end; then the daemons.
    if [ -n "$ctld" ] && kill -0 "$ctld" 2>/dev/null; then
        if [ -n "$submitted" ]; then
            timeout 10 scancel $submitted 2>/dev/null
            for _ in $(seq 1 20); do
                [ -z "$(timeout 5 squeue -h 2>/dev/null)" ] && break
                sleep 0.5
            done
        fi
        timeout 10 scontrol shutdown >/dev/null 2>&1
    fi
    stop_owned "$(regex "$run")"
    if [ -n "${SMOKE_KEEP:-}" ]; then say "kept $run"; else rm -rf "$run"; fi
    if [ "$ok" -eq 1 ]; then say "PASSED in $((SECONDS - start)) s"; else say "FAILED (exit $rc) after $((SECONDS - start)) s"; fi
    [ "$ok" -eq 1 ] || [ "$rc" -ne 0 ] || rc=1
    exit "$rc"
}
trap cleanup EXIT
trap 'say "stopped by a signal"; exit 143' INT TERM

# munged with its own key and socket. The daemons run in sessions of their own, out of reach of
# the signal the time limit sends to this script's process group, so that cleanup can still use
# them to cancel the jobs before stopping them.
head -c 1024 /dev/urandom >"$run/munge-key/key"
chmod 400 "$run/munge-key/key"
MMATTN_SLURM_SMOKE=$run setsid munged --foreground --key-file="$run/munge-key/key" --socket="$run/munge/socket" \
    --pid-file="$run/munge/munged.pid" --seed-file="$run/munge/seed" --log-file="$run/log/munged.log" \
    9>&- </dev/null >>"$run/log/munged.log" 2>&1 &
for _ in $(seq 1 40); do
    munge -S "$run/munge/socket" -n 2>/dev/null | unmunge -S "$run/munge/socket" >/dev/null 2>&1 && break
    sleep 0.25
done
munge -S "$run/munge/socket" -n | unmunge -S "$run/munge/socket" >/dev/null || fail "munged did not come up"

# Two free ports for slurmctld and slurmd.
port=16817
while ss -Htln | awk '{print $4}' | grep -Eq ":($port|$((port + 1)))\$"; do
    port=$((port + 2))
    [ "$port" -lt 17817 ] || fail "no free port pair in 16817-17817"
done

# The node as slurmd sees it: real CPUs, cores and memory.
node_line=$(env -u SLURM_CONF slurmd -C | grep '^NodeName=')
node=${node_line%% *}
node=${node#NodeName=}
# Process tracking by parent pid and CPU binding with sched_setaffinity: neither needs cgroups, which
# a container seldom hands over. No accounting database: job states come from slurmctld. A requeued
# job waits cred_expire seconds before it may start again (120 by default); a cancelled one gets
# KillWait seconds between SIGTERM and SIGKILL (30 by default); a job that becomes eligible with no
# other event waits for the main scheduling loop, every sched_interval seconds (60 by default).
cat >"$SLURM_CONF" <<EOF
ClusterName=mmattn-smoke
SlurmctldHost=$node(127.0.0.1)
SlurmctldPort=$port
SlurmdPort=$((port + 1))
SlurmUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$run/munge/socket,cred_expire=10
StateSaveLocation=$run/state
SlurmdSpoolDir=$run/spool
SlurmctldPidFile=$run/state/slurmctld.pid
SlurmdPidFile=$run/spool/slurmd.pid
SlurmctldLogFile=$run/log/slurmctld.log
SlurmdLogFile=$run/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/affinity
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=1
MpiDefault=none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
ReturnToService=2
KillWait=5
$node_line NodeAddr=127.0.0.1 State=UNKNOWN
PartitionName=smoke Nodes=$node Default=YES MaxTime=INFINITE State=UP
EOF
MMATTN_SLURM_SMOKE=$run setsid slurmctld -D -i 9>&- </dev/null >>"$run/log/slurmctld.out" 2>&1 &
ctld=$!
MMATTN_SLURM_SMOKE=$run setsid slurmd -D -N "$node" 9>&- </dev/null >>"$run/log/slurmd.out" 2>&1 &
state=""
for _ in $(seq 1 60); do
    state=$(timeout 5 sinfo -h -n "$node" -o %T 2>/dev/null || true)
    [ "$state" = idle ] && break
    sleep 0.5
done
[ "$state" = idle ] || fail "node $node is '${state:-unreachable}', not idle, 30 s after start"
say "one-node cluster up: $(sinfo -h -N -o '%N %c CPUs %m MB %T')"

# Input: the fixture's 12 records repeated under new ids, cut to varied lengths so that batches
# differ between the shards and the whole, wrapped at 60 so records span several lines.
awk -v n="$records" '
    /^>/ { k++; next }
    { seq[k] = seq[k] $0 }
    END {
        for (i = 0; i < n; i++) {
            s = seq[i % k + 1]
            len = 20 + (i * 53) % 380
            if (len > length(s)) len = length(s)
            printf ">smoke%04d record %d of %d\n", i, i, n
            for (j = 1; j <= len; j += 60) print substr(s, j, (len - j + 1 < 60) ? len - j + 1 : 60)
        }
    }' "$repo/Fixtures/protein/LuxC.faa" >"$run/job/input.faa"
model=$repo/Fixtures/models/esm2

# Each record runs alone (--toks-per-batch 1): a record's last bits depend on the records that
# share its batch, and the batches of a part differ from the whole run's, so only then are the
# merged parts the whole run's bytes (with batches they agree up to float rounding, which the
# unit tests check). The unsharded reference runs with the threads each task gets, from the job
# folder with the same arguments: the run description in the ids file names them as given.
options=(--model "$model" --toks-per-batch 1)
(cd "$run/job" && MMATTN_SLURM_SMOKE=$run MMATTN_NUM_THREADS=1 "$MMATTN" embed-protein input.faa "${options[@]}" \
    --output single.npy >"$run/log/single.out" 2>&1) || fail "the unsharded run failed"
say "unsharded run done: $records records"

# Submits the array script from the job folder with the --array option $2 and the script's
# arguments after it, and sets the variable named $1 to the job id. The job's environment (and so
# its processes) carries the marker too.
submit() {
    local var=$1 array=$2 id
    shift 2
    id=$(cd "$run/job" && MMATTN_SLURM_SMOKE=$run sbatch --parsable "$array" --cpus-per-task=1 --mem=1G \
        --time=00:10:00 --output="$run/job/%x-%A_%a.log" "$sbatch_script" "$@") || fail "sbatch failed"
    [ -n "$id" ] || fail "sbatch gave no job id"
    submitted+=" $id"
    printf -v "$var" %s "$id"
}

# Prints "state exit-code restarts" of task $2 of array job $1, as slurmctld has it.
task_state() {
    timeout 5 scontrol -o show job "$1_$2" 2>/dev/null |
        awk '{ for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = substr($i, length(kv[1]) + 2) } print v["JobState"], v["ExitCode"], v["Restarts"] }'
}

# Waits, at most $2 seconds, until job $1 has no task pending or running.
wait_done() {
    for _ in $(seq 1 "$2"); do
        [ -z "$(timeout 5 squeue -h -j "$1" 2>/dev/null)" ] && return 0
        sleep 1
    done
    fail "job $1 was not done $2 s after submission: $(squeue -h -j "$1" -o '%i %T %r' | tr '\n' ';')"
}

submit jobid "--array=0-$((shards - 1))" embed-protein input.faa parts "${options[@]}"
say "submitted array job $jobid: $shards tasks"

# Requeue task 0: while it runs, once its journal (.F.resume) has committed 10 records or more, so
# that the second run has to resume mid-way; if it is done before it can be caught, after it
# finished, so that the second run has to find its part complete.
part0=$(printf "parts/part-%04d-of-%04d.npy" 0 "$shards")
journal0=$run/job/$(dirname "$part0")/.$(basename "$part0").resume
caught=""
for _ in $(seq 1 600); do
    read -r st _ _ <<<"$(task_state "$jobid" 0)"
    committed=$(grep -o '"records": [0-9]*' "$journal0" 2>/dev/null | grep -o '[0-9]*$' || echo 0)
    if [ "$st" = RUNNING ] && [ "$committed" -ge 10 ]; then caught=running; break; fi
    case $st in COMPLETED) caught=finished; break ;; FAILED | CANCELLED | TIMEOUT | NODE_FAIL | OUT_OF_MEMORY) fail "task 0 ended $st before the requeue" ;; esac
    sleep 0.1
done
[ -n "$caught" ] || fail "task 0 neither ran nor finished within 60 s"
scontrol requeue "${jobid}_0" || fail "scontrol requeue ${jobid}_0 failed"
if [ "$caught" = running ]; then
    say "requeued task 0 while it ran, $committed records committed"
else
    say "requeued task 0 after it finished (it was done before it could be caught running)"
fi

# Wait for every task.
wait_done "$jobid" 300
for k in $(seq 0 $((shards - 1))); do
    read -r st code restarts <<<"$(task_state "$jobid" "$k")"
    [ "$st $code" = "COMPLETED 0:0" ] || fail "task $k ended $st with exit code $code"
    [ "$k" -ne 0 ] || [ "$restarts" = 1 ] || fail "task 0 was not restarted once (restarts: $restarts)"
done
log0=$run/job/mmattn-embed-${jobid}_0.log
grep -q "restart 1" "$log0" || fail "task 0's log does not show its second run"
second=$(sed -n '/restart 1/,$p' "$log0")
case $caught in
    running) grep -Eq "^resuming |already complete" <<<"$second" || fail "task 0's second run did not resume" ;;
    finished) grep -q "already complete" <<<"$second" || fail "task 0's second run did not find its part complete" ;;
esac
say "all $shards tasks completed; task 0 ran twice"

# Merge, and compare with the unsharded run.
(cd "$run/job" && MMATTN_SLURM_SMOKE=$run "$MMATTN" merge parts/part-*-of-*.npy --output merged.npy >"$run/log/merge.out" 2>&1) ||
    fail "mmattn merge failed: $(cat "$run/log/merge.out")"
cmp "$run/job/merged.npy" "$run/job/single.npy" || fail "the merged embeddings differ from the unsharded run's"
cmp "$run/job/merged.ids.jsonl" "$run/job/single.ids.jsonl" || fail "the merged ids differ from the unsharded run's"
[ "$(($(wc -l <"$run/job/merged.ids.jsonl") - 1))" -eq "$records" ] || fail "the merged ids do not count $records records"
say "merged $shards parts: embeddings and ids equal the unsharded run's byte for byte"

# A set of parts missing one shard must be refused.
if [ "$shards" -gt 1 ]; then
    if (cd "$run/job" && set -- parts/part-*-of-*.npy && shift &&
        MMATTN_SLURM_SMOKE=$run "$MMATTN" merge "$@" --output partial.npy >/dev/null 2>&1); then
        fail "mmattn merge accepted parts without shard 0"
    fi
    say "merge refuses parts without shard 0"
fi

# Running one task again, with N given (MMATTN_SHARDS), leaves its finished part as it is; an
# array that is not 0-(N-1) without MMATTN_SHARDS is refused by every task (with N > 1, the last
# task alone is such an array).
last=$((shards - 1))
part_last=$(printf "parts/part-%04d-of-%04d.npy" "$last" "$shards")
cp "$run/job/$part_last" "$run/job/before.npy"
MMATTN_SHARDS=$shards submit again "--array=$last" embed-protein input.faa parts "${options[@]}"
[ "$shards" -eq 1 ] || submit wrong "--array=$last" embed-protein input.faa parts "${options[@]}"
wait_done "$again" 120
read -r st code _ <<<"$(task_state "$again" "$last")"
[ "$st $code" = "COMPLETED 0:0" ] || fail "task $last run again ended $st with exit code $code"
grep -q "already complete" "$run/job/mmattn-embed-${again}_$last.log" || fail "task $last run again did not find its part complete"
cmp "$run/job/$part_last" "$run/job/before.npy" || fail "task $last run again changed its finished part"
say "task $last run again with MMATTN_SHARDS left its part as it was"
if [ -n "$wrong" ]; then
    wait_done "$wrong" 120
    read -r st code _ <<<"$(task_state "$wrong" "$last")"
    [ "$st $code" = "FAILED 2:0" ] || fail "an array of task $last alone without MMATTN_SHARDS ended $st with exit code $code, not refused"
    grep -q "set MMATTN_SHARDS" "$run/job/mmattn-embed-${wrong}_$last.log" || fail "the refusal does not say to set MMATTN_SHARDS"
    say "task $last alone without MMATTN_SHARDS was refused"
fi
ok=1

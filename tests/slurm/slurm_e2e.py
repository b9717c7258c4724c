#!/usr/bin/python3
"""End to end under a real Slurm: scripts/nmf_mpi.sbatch submitted to a one-node cluster on this machine.

Starts Slurm with scripts/slurm-local.sh (state in a fresh directory under /tmp), submits the batch script twice
with 2 tasks -- once launched by `srun --mpi=pmix`, once by `mpirun` -- each with every nmf_mpi option in a config
file (--config) and one more on the command line after it, and checks each job: state COMPLETED with exit code
0:0, one MPI job of 2 ranks (not two singletons), the summary JSON written, the option after the config file
applied, and the summary's relative_error equal to numpy's on the written factors.

Then preemption, for both launchers: a job that checkpoints every 5 iterations gets `scancel --signal=USR1
--batch` (the batch shell is the launcher itself, exec'd, as `#SBATCH --signal=B:USR1@120` reaches it) once a
checkpoint exists; it must end with exit code 8 (interrupted), its checkpoint and its outputs written. The same
script resubmitted under the same job name resumes from the checkpoint (the script's default) and must end with
exactly the factors of an uninterrupted run (mpirun outside Slurm, same ranks). The srun flow runs once more on a
rating file (the recommender mode: its checkpoints carry the biases and residuals too), whose biases must also be
the uninterrupted run's. Jobs are cancelled and the daemons stopped whatever happens.

Exit codes: 0 pass, 1 fail, 77 skipped (Slurm cannot run here: not root, Slurm or munge missing, or the daemons
would not start -- set NMF_SLURM_REQUIRED=1 to make that last case a failure).
"""
import argparse
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

EXIT_SKIPPED = 77
TERMINAL_STATES = {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "OUT_OF_MEMORY", "PREEMPTED",
                   "BOOT_FAIL", "DEADLINE"}


def free_port_pair():
    """A port p with p and p + 1 free on this machine (slurmctld and slurmd), so that another checkout's test or
    a system Slurm on 6817 does not collide with this one."""
    candidates = [6817] + random.sample(range(20000, 40000, 2), 50)
    for port in candidates:
        try:
            with socket.socket() as a, socket.socket() as b:
                a.bind(("", port))
                b.bind(("", port + 1))
            return port
        except OSError:
            continue
    raise RuntimeError("no free pair of ports for slurmctld and slurmd")


def job_fields(job_id, env):
    """scontrol's one-line record of the job as a dict (JobState, ExitCode, ...), or {} if it is not known."""
    out = subprocess.run(["scontrol", "-o", "show", "job", job_id], env=env, capture_output=True, text=True)
    if out.returncode != 0:
        return {}
    return dict(item.split("=", 1) for item in out.stdout.split() if "=" in item)


def wait_for_jobs(job_ids, env, deadline_seconds):
    """Polls until every job is in a terminal state or the deadline passes; returns {job_id: fields}."""
    deadline = time.monotonic() + deadline_seconds
    fields = {}
    while True:
        fields = {j: job_fields(j, env) for j in job_ids}
        if all(f.get("JobState") in TERMINAL_STATES for f in fields.values()):
            return fields
        if time.monotonic() > deadline:
            return fields
        time.sleep(0.5)


def submit(scripts, work, env, name, config, launcher, binary, more=()):
    """Submits nmf_mpi.sbatch with 2 tasks; returns the job id, or raises RuntimeError with sbatch's message."""
    out = subprocess.run(
        ["sbatch", "--parsable", "--nodes=1", "--ntasks-per-node=2", "--time=5", f"--job-name={name}",
         f"--chdir={work}", f"--output={work}/{name}-%j.out", f"--export=ALL,NMF_MPI={binary},NMF_LAUNCHER={launcher}",
         str(scripts / "nmf_mpi.sbatch"), str(config)] + list(more),
        env=env, capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"sbatch failed: {out.stdout}{out.stderr}")
    return out.stdout.strip().split(";")[0]


def checkpoint_iterations(directory, family="restart0"):
    found = []
    for path in Path(directory).glob(f"{family}-it*"):
        if ".tmp-" not in path.name and (path / "manifest.json").is_file():
            found.append(int(path.name.rsplit("-it", 1)[1]))
    return sorted(found)


def write_ratings(path):
    """A user item rating file (120 users, 90 items, about 40% rated, ratings 1..5 in halves), seeded."""
    rng = np.random.default_rng(4)
    scores = rng.random((120, 3)) @ rng.random((3, 90))
    lines = [f"u{u} i{i} {np.clip(np.round(2 * (1 + 1.5 * scores[u, i])) / 2, 1, 5):g}\n"
             for u in range(120) for i in range(90) if rng.random() < 0.4]
    path.write_text("".join(lines))


def preemption(launcher, scripts, work, env, binary, X, deadline, ratings=False):
    """The preemption flow (module docstring) for one launcher, on X or (`ratings`) on a rating file in the
    recommender mode; returns the problems found."""
    name = f"nmf_preempt_{launcher}" + ("_ratings" if ratings else "")
    family = "recommender" if ratings else "restart0"
    checkpoints = work / f"checkpoints-{name}"  # the script's default: named after the job
    config = work / f"{name}.cfg"
    if ratings:
        write_ratings(work / "ratings.txt")
    source = f"input = {work / 'ratings.txt'}\ntest-fraction = 0.2\n" if ratings else f"input = {work / 'X.npy'}\n"
    config.write_text(f"{source}rank = 4\nalgo = hals\ntol = 0\nseed = 5\noutput-format = npy\n"
                      f"checkpoint-every = 5\nlog-every = 1000000\n")
    problems = []
    first = submit(scripts, work, env, name, config, launcher, binary, ["--iters", "10000000", "-o", str(work / name)])
    print(f"{launcher}: preemption job {first} submitted")
    limit = time.monotonic() + deadline
    while not checkpoint_iterations(checkpoints, family):  # event: the first checkpoint is complete
        if job_fields(first, env).get("JobState") in TERMINAL_STATES or time.monotonic() > limit:
            return [f"job {first} wrote no checkpoint (state {job_fields(first, env).get('JobState')})"]
        time.sleep(0.1)
    signalled = subprocess.run(["scancel", "--signal=USR1", "--batch", first], env=env, capture_output=True, text=True)
    if signalled.returncode != 0:
        return [f"scancel --signal=USR1 --batch failed: {signalled.stderr}"]
    f = wait_for_jobs([first], env, deadline)[first]
    log = work / f"{name}-{first}.out"
    print(f"--- {launcher} preempted job {first}: JobState={f.get('JobState')} ExitCode={f.get('ExitCode')}\n"
          f"{log.read_text().rstrip() if log.exists() else '(no job output file)'}")
    if f.get("ExitCode") != "8:0":
        problems.append(f"job {first}: exit code {f.get('ExitCode')} after SIGUSR1, expected 8:0 (interrupted)")
    summary_path = work / f"{name}_summary.json"
    if not summary_path.exists():
        return problems + [f"job {first}: no summary after SIGUSR1"]
    summary = json.loads(summary_path.read_text())
    stopped_at = summary["iterations"]
    if summary["stop_reason"] != "interrupted" or checkpoint_iterations(checkpoints, family)[-1:] != [stopped_at]:
        problems.append(f"job {first}: stop_reason {summary['stop_reason']}, checkpoints "
                        f"{checkpoint_iterations(checkpoints, family)}, iterations {stopped_at}")
    total = stopped_at + 20
    second = submit(scripts, work, env, name, config, launcher, binary, ["--iters", str(total), "-o", str(work / name)])
    f = wait_for_jobs([second], env, deadline)[second]
    log = work / f"{name}-{second}.out"
    log_text = log.read_text() if log.exists() else "(no job output file)"
    print(f"--- {launcher} resubmitted job {second}: JobState={f.get('JobState')} ExitCode={f.get('ExitCode')}\n"
          f"{log_text.rstrip()}")
    if f.get("JobState") != "COMPLETED" or f"--resume: iteration {stopped_at} from" not in log_text:
        problems.append(f"job {second}: state {f.get('JobState')}; it should have resumed at {stopped_at}")
    reference = work / f"{name}_reference"
    mpi_env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1", OPENBLAS_NUM_THREADS="1")
    ran = subprocess.run(["mpirun", "-q", "--oversubscribe", "-np", "2", str(binary), "--config", str(config),
                          "--iters", str(total), "-o", str(reference),
                          "--checkpoint-dir", str(work / f"{name}_reference_checkpoints")], env=mpi_env, capture_output=True, text=True)
    if ran.returncode != 0:
        return problems + [f"the uninterrupted reference run failed: {ran.stdout}{ran.stderr}"]
    for factor in ("A", "S"):
        resumed, expected = np.load(work / f"{name}_{factor}.npy"), np.load(f"{reference}_{factor}.npy")
        if not np.array_equal(resumed, expected):
            problems.append(f"{factor} after preemption and resume differs from the uninterrupted run's by up to "
                            f"{np.max(np.abs(resumed - expected)):.3g}")
    for biases in ("bias_rows.mtx", "bias_cols.mtx") if ratings else ():  # %.17g text: equal bytes, equal values
        if (work / f"{name}_{biases}").read_bytes() != Path(f"{reference}_{biases}").read_bytes():
            problems.append(f"{biases} after preemption and resume differs from the uninterrupted run's")
    if not problems:
        print(f"{launcher}{' (ratings)' if ratings else ''}: stopped at iteration {stopped_at} by SIGUSR1, "
              f"resumed to {total}: same factors")
    return problems


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--binary", required=True, help="nmf_mpi")
    parser.add_argument("--source-dir", required=True, help="the project (for scripts/)")
    parser.add_argument("--workdir", required=True, help="inputs, config files and job outputs go here")
    parser.add_argument("--deadline", type=float, default=240.0, help="seconds the jobs may take in all")
    args = parser.parse_args()

    scripts = Path(args.source_dir).resolve() / "scripts"
    binary = Path(args.binary).resolve()
    work = Path(args.workdir).resolve()
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)

    # A nonnegative 120 x 90 matrix of rank 4 plus a little noise.
    rng = np.random.default_rng(3)
    X = rng.random((120, 4)) @ rng.random((4, 90)) + 0.01 * rng.random((120, 90))
    np.save(work / "X.npy", X)

    # Slurm state under /tmp, not the build directory: the munge socket path must stay short (108 bytes).
    state = Path(tempfile.mkdtemp(prefix="nmf-slurm-"))
    env = dict(os.environ, SLURM_CONF=str(state / "slurm.conf"), NMF_SLURM_PORT=str(free_port_pair()))
    local = [str(scripts / "slurm-local.sh")]
    started = subprocess.run(local + ["start", str(state)], env=env, capture_output=True, text=True)
    print(started.stdout + started.stderr, end="")
    if started.returncode == EXIT_SKIPPED:
        shutil.rmtree(state, ignore_errors=True)
        return EXIT_SKIPPED
    if started.returncode != 0:
        subprocess.run(local + ["stop", str(state)], env=env)
        if os.environ.get("NMF_SLURM_REQUIRED") == "1":
            print(f"FAIL: Slurm would not start (NMF_SLURM_REQUIRED=1); its state is in {state}")
            return 1
        print(f"SKIP: Slurm would not start here (logs above; state in {state})")
        return EXIT_SKIPPED

    failures = []
    try:
        jobs = {}
        for launcher in ("srun", "mpirun"):
            # Every option in the config file; --seed again after it, on the command line, which must win.
            config = work / f"{launcher}.cfg"
            config.write_text(f"# nmf_mpi options for the {launcher} job\n"
                              f"input = {work / 'X.npy'}\nrank = 4\nalgo = hals\niters = 60\ntol = 0\n"
                              f"seed = 7\noutput-format = npy\noutput = {work / launcher}\nquiet = true\n")
            submit = subprocess.run(
                ["sbatch", "--parsable", "--nodes=1", "--ntasks-per-node=2", "--time=5",
                 f"--job-name=nmf_e2e_{launcher}", f"--chdir={work}", f"--output={work}/{launcher}-%j.out",
                 f"--export=ALL,NMF_MPI={binary},NMF_LAUNCHER={launcher}",
                 str(scripts / "nmf_mpi.sbatch"), str(config), "--seed", "11"],
                env=env, capture_output=True, text=True)
            if submit.returncode != 0:
                failures.append(f"{launcher}: sbatch failed: {submit.stdout}{submit.stderr}")
                continue
            jobs[launcher] = submit.stdout.strip().split(";")[0]
            print(f"{launcher}: submitted job {jobs[launcher]}")

        start = time.monotonic()
        fields = wait_for_jobs(list(jobs.values()), env, args.deadline)
        print(f"jobs ended after {time.monotonic() - start:.1f} s")
        for launcher, job_id in jobs.items():
            f = fields[job_id]
            log = work / f"{launcher}-{job_id}.out"
            log_text = log.read_text() if log.exists() else "(no job output file)"
            print(f"--- {launcher} job {job_id}: JobState={f.get('JobState')} ExitCode={f.get('ExitCode')}\n"
                  f"{log_text.rstrip()}")
            problems = []
            if f.get("JobState") != "COMPLETED" or f.get("ExitCode") != "0:0":
                problems.append(f"state {f.get('JobState')}, exit code {f.get('ExitCode')} (expected COMPLETED, 0:0)")
            summary_path = work / f"{launcher}_summary.json"
            if not summary_path.exists():
                problems.append(f"no summary {summary_path}")
            else:
                summary = json.loads(summary_path.read_text())
                A = np.load(work / f"{launcher}_A.npy")
                S = np.load(work / f"{launcher}_S.npy")
                expected = np.linalg.norm(X - A @ S) / np.linalg.norm(X)
                print(f"{launcher}: ranks {summary.get('ranks')}, seed {summary.get('seed')}, iterations "
                      f"{summary.get('iterations')}, relative_error {summary.get('relative_error'):.9g}, "
                      f"numpy {expected:.9g}")
                if summary.get("ranks") != 2:
                    problems.append(f"ranks {summary.get('ranks')} in the summary, expected one job of 2 ranks")
                if summary.get("seed") != 11:
                    problems.append(f"seed {summary.get('seed')}: the --seed 11 after the config file was not applied")
                if summary.get("k") != 4 or summary.get("iterations") != 60:
                    problems.append(f"k {summary.get('k')}, iterations {summary.get('iterations')}: expected the "
                                    "config file's 4 and 60")
                if A.shape != (120, 4) or S.shape != (4, 90):
                    problems.append(f"factor shapes {A.shape} and {S.shape}")
                if not abs(summary["relative_error"] - expected) <= 1e-8 + 1e-6 * expected:
                    problems.append(f"relative_error {summary['relative_error']} but numpy gives {expected}")
                if not expected < 0.05:
                    problems.append(f"relative error {expected} too large for a rank-4 matrix")
            failures += [f"{launcher} job {job_id}: {p}" for p in problems]
        for launcher, ratings in (("srun", False), ("mpirun", False), ("srun", True)):
            what = f"{launcher} preemption{' (ratings)' if ratings else ''}"
            try:
                failures += [f"{what}: {p}"
                             for p in preemption(launcher, scripts, work, env, binary, X, args.deadline, ratings)]
            except RuntimeError as e:
                failures.append(f"{what}: {e}")
    finally:
        stopped = subprocess.run(local + ["stop", str(state)], env=env, capture_output=True, text=True)
        print(stopped.stdout + stopped.stderr, end="")
    if failures:
        for log in sorted((state / "log").glob("*.log")):
            print(f"--- last lines of {log}\n" + "".join(log.read_text().splitlines(True)[-15:]), end="")
        print("FAIL:\n  " + "\n  ".join(failures))
        print(f"(Slurm state kept in {state})")
        return 1
    shutil.rmtree(state, ignore_errors=True)
    print("PASS: both jobs COMPLETED; summaries and factors agree with numpy; preempted jobs (X and ratings) resumed "
          "exactly")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""One real RETURNN process serving a whole pytest session (conftest.run_returnn_jobs): it reads
the path of a JOBS.json per line on stdin, runs those jobs with cli/run_in_returnn.py's own
run_jobs (what `run_in_returnn.py --jobs JOBS.json` runs: a new graph and session per job, a job's
failure written to its OUTPUT.error), and then answers one line on stdout. TensorFlow and RETURNN
load once per session instead of once per test module. Whatever RETURNN or TensorFlow print goes
to stderr, so that stdout carries the answers only."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "cli"))


def main():
    answers = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)  # prints, Python's and the C libraries', go to stderr
    sys.stdout = sys.stderr
    import run_in_returnn
    for line in sys.stdin:
        run_in_returnn.run_jobs(line.rstrip("\n"))
        answers.write("done\n")
        answers.flush()


if __name__ == "__main__":
    main()

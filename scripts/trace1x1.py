# trace1x1.py -- what scripts/trace-1x1-hops.py and trace-1x1-aio.py share:
# reading the trace scripts/trace-1x1.sh recorded (PREFIX.txt: `perf
# script` lines; PREFIX.env: the nodes', leader's, coordbench's and its
# target's PIDs), printing one distribution, and the pooled main. Both
# follow the leader's path, so a trace of a client on a follower is
# refused. Reads only.
import re
import statistics
import sys

LINE = re.compile(r'^\s*(\S+)\s+(\d+)/(\d+)\s+\[(\d+)\]\s+([\d.]+):\s+(\S+):'
                  r'\s*(.*)$')


def load(prefix):
    """(node pids, leader pid, coordbench pid, events); an event is
    (time in us, pid, tid, event name, the rest of the line)."""
    text = open(prefix + '.env').read()
    nodes = re.search(r'pids=([\d ]+?) leader_pid', text).group(1).split()
    env = dict(re.findall(r'(leader_pid|bench_pid|target_pid)=(\d+)', text))
    if env.get('target_pid', env['leader_pid']) != env['leader_pid']:
        sys.exit(prefix + ': coordbench talked to a follower; this follows '
                 'the leader\'s path only (read the raw .txt)')
    ev = []
    for line in open(prefix + '.txt'):
        m = LINE.match(line)
        if m:
            _, pid, tid, _, t, e, rest = m.groups()
            ev.append((float(t) * 1e6, pid, tid, e, rest))
    return nodes, env['leader_pid'], env['bench_pid'], ev


def show(label, d, width=34):
    d = sorted(x for x in d if x is not None)
    if not d:
        return
    print(f'  {label:<{width}} p50 {statistics.median(d):7.0f} us'
          f'  p10 {d[len(d) // 10]:6.0f}  p90 {d[len(d) * 9 // 10]:7.0f}')


def pooled(writes, what=''):
    """The rows of writes(prefix) for every prefix on the command line,
    after a header line; exits when there are none."""
    rows = []
    for prefix in sys.argv[1:]:
        rows += writes(prefix)
    if not rows:
        sys.exit('no complete write found in the trace')
    print(f'{len(rows)} writes traced ({" ".join(sys.argv[1:])}){what}')
    return rows

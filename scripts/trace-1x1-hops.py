#!/usr/bin/env python3
# trace-1x1-hops.py -- reads what scripts/trace-1x1.sh recorded (PREFIX.txt:
# `perf script` lines; PREFIX.env: the nodes', leader's and coordbench's
# PIDs) and prints the median, p10 and p90 of each hop of a 1x1 write, the
# follower being the one whose APPEND_RESP reached the leader first. The
# storage thread of a node is the thread that makes the log durable: a
# small O_DIRECT|O_DSYNC pwrite64 (the log's segments; the spare segment's
# zero-fill writes 256 KiB chunks from another thread) or fdatasync (the
# RocksDB log); "fsync" below is that call. Reads only.
#
#   scripts/trace-1x1-hops.py PREFIX [PREFIX...]   (several: pooled)
import re

from trace1x1 import load, pooled, show

HOPS = ['c_send', 'l_wake', 'l_append', 'f_wake', 'f_fsync_in',
        'f_fsync_out', 'f_evfd', 'f_loopwake', 'f_resp', 'l_wake2',
        'l_reply', 'c_wake']


def sendlen(rest):
    m = re.search(r'len: (0x[0-9a-f]+)', rest)
    return int(m.group(1), 16) if m else 0


DURABLE_MAX = 0x10000  # a log append: a few 4 KiB blocks


def count(rest):
    m = re.search(r'count: (0x[0-9a-f]+)', rest)
    return int(m.group(1), 16) if m else None


def durable_in(e, rest):
    return e == 'sys_enter_fdatasync' or (
        e == 'sys_enter_pwrite64' and (count(rest) or 0) <= DURABLE_MAX)


def writes(prefix):
    nodes, lp, bp, ev = load(prefix)
    worker = {pid: tid for _, pid, tid, e, rest in ev
              if durable_in(e, rest) and pid in nodes}
    ctid = next((tid for _, pid, tid, e, _ in ev
                 if pid == bp and e == 'sys_enter_sendto'), None)
    foll = [p for p in nodes if p != lp]

    def first(i, tid, name, pred=lambda r: True):
        if i is None:
            return None
        for j in range(i, len(ev)):
            if ev[j][2] == tid and ev[j][3] == name and pred(ev[j][4]):
                return j
        return None

    def fsync_in(i, tid):
        if i is None:
            return None
        for j in range(i, len(ev)):
            if ev[j][2] == tid and durable_in(ev[j][3], ev[j][4]):
                return j
        return None

    def fsync_out(i, tid):
        if i is None:
            return None
        return first(i, tid, ev[i][3].replace('enter', 'exit'))

    out = []
    for i, (_, _, tid, e, rest) in enumerate(ev):
        if tid != ctid or e != 'sys_enter_sendto' or sendlen(rest) <= 0x60:
            continue
        r = {'c_send': i}
        r['l_wake'] = first(i + 1, lp, 'sys_exit_epoll_wait')
        r['l_append'] = first(r['l_wake'], lp, 'sys_enter_sendto',
                              lambda x: sendlen(x) >= 0x80)
        if r['l_append'] is None or lp not in worker:
            continue
        r['l_fsync_in'] = fsync_in(i, worker[lp])
        r['l_fsync_out'] = fsync_out(r['l_fsync_in'], worker[lp])
        best = None
        for f in foll:
            if f not in worker:
                continue
            h = {'f_wake': first(r['l_append'], f, 'sys_exit_epoll_wait')}
            h['f_fsync_in'] = fsync_in(h['f_wake'], worker[f])
            h['f_fsync_out'] = fsync_out(h['f_fsync_in'], worker[f])
            h['f_evfd'] = first(h['f_fsync_out'], worker[f],
                                'sys_enter_write')
            h['f_loopwake'] = first(h['f_fsync_out'], f,
                                    'sys_exit_epoll_wait')
            h['f_resp'] = first(h['f_loopwake'], f, 'sys_enter_sendto')
            if None in h.values():
                continue
            if best is None or h['f_resp'] < best['f_resp']:
                best = h
        if best is None:
            continue
        r.update(best)
        r['l_wake2'] = first(r['f_resp'], lp, 'sys_exit_epoll_wait')
        r['l_reply'] = first(r['l_wake2'], lp, 'sys_enter_sendto')
        r['c_wake'] = first(r['l_reply'], ctid, 'sys_exit_poll')
        if None in r.values():
            continue
        out.append({k: ev[v][0] for k, v in r.items()})
    return out


def main():
    rows = pooled(writes)
    for a, b in zip(HOPS, HOPS[1:]):
        show(f'{a} -> {b}', [r[b] - r[a] for r in rows])
    show('leader: wake -> own fsync in', [r['l_fsync_in'] - r['l_wake']
                                          for r in rows])
    show('leader: own fsync', [r['l_fsync_out'] - r['l_fsync_in']
                               for r in rows])
    show('total (client send -> wake)', [r['c_wake'] - r['c_send']
                                         for r in rows])
    show('total minus follower fsync',
         [r['c_wake'] - r['c_send'] - r['f_fsync_out'] + r['f_fsync_in']
          for r in rows])


if __name__ == '__main__':
    main()

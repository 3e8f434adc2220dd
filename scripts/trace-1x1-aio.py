#!/usr/bin/env python3
# trace-1x1-aio.py -- reads what scripts/trace-1x1.sh recorded (PREFIX.txt,
# PREFIX.env) with log_aio on (the default) and prints the median, p10 and
# p90 of each step of a 1x1 write, as offsets from the client's send, per
# node: the leader's wake and its APPENDs, its own log write (io_submit on
# the loop in, out, and the loop's wake by the completion), each
# follower's wake, write start (io_submit from the loop, or the storage
# thread's pwrite64 when its write went to the thread), write end (the
# loop's io_getevents, or the pwrite64's return) and APPEND_RESP; then the
# leader's reply and the client's wake. It also counts what the commit
# waited for: the leader's own write or a follower's acknowledgement
# (whichever came second of the three, as a majority of three needs two).
# Reads only.
#
#   scripts/trace-1x1-aio.py PREFIX [PREFIX...]   (several: pooled)
import re

from trace1x1 import load, pooled, show

# a log append: a few 4 KiB blocks (as in trace-1x1-hops.py)
DURABLE_MAX = 0x10000

def num(rest, key):
    m = re.search(key + r': (0x[0-9a-f]+)', rest)
    return int(m.group(1), 16) if m else 0


class Trace:
    def __init__(self, ev):
        self.ev = ev

    def first(self, i, pred):
        if i is None:
            return None
        for j in range(i, len(self.ev)):
            if pred(self.ev[j]):
                return j
        return None


def writes(prefix):
    nodes, lp, bp, ev = load(prefix)
    tr = Trace(ev)
    worker = {pid: tid for _, pid, tid, e, rest in ev
              if e == 'sys_enter_pwrite64' and pid in nodes and pid != tid
              and num(rest, 'count') <= DURABLE_MAX}
    ctid = next((tid for _, pid, tid, e, _ in ev
                 if pid == bp and e == 'sys_enter_sendto'), None)
    foll = [p for p in nodes if p != lp]

    def on(tid, name, pred=lambda r: True):
        return lambda x: x[2] == tid and x[3] == name and pred(x[4])

    def follower(f, start):
        h = {'wake': tr.first(start, on(f, 'sys_exit_epoll_wait'))}
        sub = tr.first(h['wake'], on(f, 'sys_enter_io_submit'))
        pw = None
        if f in worker:
            pw = tr.first(h['wake'], on(worker[f], 'sys_enter_pwrite64',
                                        lambda r: num(r, 'count') <=
                                        DURABLE_MAX))
        # The write of this APPEND: whichever path started first.
        if sub is not None and (pw is None or sub < pw):
            h['in'] = sub
            h['out'] = tr.first(sub, on(f, 'sys_enter_io_getevents'))
            h['path'] = 'aio'
        else:
            h['in'] = pw
            h['out'] = tr.first(pw, on(worker.get(f), 'sys_exit_pwrite64'))
            h['path'] = 'thread'
        h['resp'] = tr.first(h['out'], on(f, 'sys_enter_sendto'))
        return h

    out = []
    for i, (_, _, tid, e, rest) in enumerate(ev):
        if tid != ctid or e != 'sys_enter_sendto' or num(rest, 'len') <= 0x60:
            continue
        r = {'c_send': i}
        r['l_wake'] = tr.first(i + 1, on(lp, 'sys_exit_epoll_wait'))
        r['l_append'] = tr.first(r['l_wake'], on(
            lp, 'sys_enter_sendto', lambda x: num(x, 'len') >= 0x80))
        r['l_sub_in'] = tr.first(r['l_wake'], on(lp, 'sys_enter_io_submit'))
        r['l_sub_out'] = tr.first(r['l_sub_in'],
                                  on(lp, 'sys_exit_io_submit'))
        r['l_done'] = tr.first(r['l_sub_out'],
                               on(lp, 'sys_enter_io_getevents'))
        if None in r.values():
            continue
        fs = [follower(f, r['l_append']) for f in foll]
        fs = [h for h in fs if None not in h.values()]
        if not fs:
            continue
        fs.sort(key=lambda h: h['resp'])
        f = fs[0]
        r['l_reply'] = tr.first(max(r['l_done'], r['l_append']), on(
            lp, 'sys_enter_sendto', lambda x: 0x20 <= num(x, 'len') < 0x60))
        r['c_wake'] = tr.first(r['l_reply'], on(ctid, 'sys_exit_poll'))
        if None in r.values():
            continue
        t = {k: ev[v][0] - ev[i][0] for k, v in r.items()}
        for k in ('wake', 'in', 'out', 'resp'):
            t['f_' + k] = ev[f[k]][0] - ev[i][0]
        t['f_path'] = f['path']
        # The follower's ack reaches the leader's loop: its next wake.
        w = tr.first(f['resp'], on(lp, 'sys_exit_epoll_wait'))
        t['l_wake2'] = ev[w][0] - ev[i][0] if w is not None else None
        t['waited'] = 'own' if t['l_done'] > (t['l_wake2'] or 0) else 'ack'
        out.append(t)
    return out


def main():
    rows = pooled(writes, '; offsets from the client\'s send')
    for k in ('l_wake', 'l_append', 'l_sub_in', 'l_sub_out', 'f_wake',
              'f_in', 'f_out', 'f_resp', 'l_wake2', 'l_done', 'l_reply',
              'c_wake'):
        show(k, [r[k] for r in rows])
    print('  durations:')
    show('leader write (submit in -> reap)',
         [r['l_done'] - r['l_sub_in'] for r in rows])
    show('follower write (in -> out)', [r['f_out'] - r['f_in'] for r in rows])
    show('follower out -> resp sent', [r['f_resp'] - r['f_out']
                                       for r in rows])
    show('leader reply -> client wake', [r['c_wake'] - r['l_reply']
                                         for r in rows])
    n = len(rows)
    own = sum(r['waited'] == 'own' for r in rows)
    aio = sum(r['f_path'] == 'aio' for r in rows)
    print(f'  commit waited for the leader\'s own write in {own} of {n}; '
          f'first follower wrote from the loop (aio) in {aio} of {n}')


if __name__ == '__main__':
    main()

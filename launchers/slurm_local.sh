#!/usr/bin/env bash
# A real single-node SLURM cluster on this machine, for tests and for trying the
# submitit_slurm launcher before using a real cluster. Needs root and apt-get (Debian).
#
#   launchers/slurm_local.sh start    # install (once), configure, start munge + slurmctld + slurmd
#   launchers/slurm_local.sh status   # sinfo
#   launchers/slurm_local.sh stop     # stop the three daemons (by their pid files)
#   launchers/slurm_local.sh conf     # print the slurm.conf it would write (no root needed)
#
# Idempotent: `start` on a running cluster only checks it. The partition is `debug`, so
#   python -m gvgap -m ... hydra/launcher=submitit_slurm hydra.launcher.partition=debug
# (or hydra/launcher=slurm_local) submits the sweep's jobs to it. Accounting is off, so
# submitit prints harmless "Bypassing sacct error" warnings.
set -euo pipefail

HOST="${SLURM_LOCAL_HOST:-$(hostname -s)}"
CPUS="${SLURM_LOCAL_CPUS:-$(nproc)}"
MEM_MB="${SLURM_LOCAL_MEM_MB:-$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 * 85 / 100 ))}"
CONF_DIR=/etc/slurm
STATE=/var/spool/slurmctld
SPOOL=/var/spool/slurmd
LOGS=/var/log/slurm
RUN=/run/slurm
MUNGE_PID=/run/munge/munged.pid

render_conf() {
  cat <<CONF
# Written by gvgap launchers/slurm_local.sh: one node, one partition, no accounting.
ClusterName=gvgap-local
SlurmctldHost=${HOST}(127.0.0.1)
SlurmUser=root
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
ReturnToService=2
MpiDefault=none
StateSaveLocation=${STATE}
SlurmdSpoolDir=${SPOOL}
SlurmctldPidFile=${RUN}/slurmctld.pid
SlurmdPidFile=${RUN}/slurmd.pid
SlurmctldLogFile=${LOGS}/slurmctld.log
SlurmdLogFile=${LOGS}/slurmd.log
SchedulerType=sched/backfill
NodeName=${HOST} NodeAddr=127.0.0.1 CPUs=${CPUS} RealMemory=${MEM_MB} State=UNKNOWN
PartitionName=debug Nodes=${HOST} Default=YES MaxTime=INFINITE State=UP
CONF
}

alive() {  # alive PIDFILE: the process named in the pid file runs
  [[ -s "$1" ]] && kill -0 "$(cat "$1")" 2>/dev/null
}

need_root() {
  if [[ $(id -u) -ne 0 ]]; then echo "slurm_local.sh: $1 needs root" >&2; exit 1; fi
}

install() {
  if command -v slurmctld >/dev/null && command -v slurmd >/dev/null && command -v sinfo >/dev/null \
     && command -v munged >/dev/null; then
    return
  fi
  echo "slurm_local.sh: installing slurmctld slurmd slurm-client munge"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurmctld slurmd slurm-client munge >/dev/null
}

start_munge() {
  if alive "$MUNGE_PID"; then return; fi
  if [[ ! -s /etc/munge/munge.key ]]; then
    dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key status=none
  fi
  chown munge:munge /etc/munge/munge.key
  chmod 400 /etc/munge/munge.key
  mkdir -p /run/munge /var/lib/munge /var/log/munge
  chown -R munge:munge /run/munge /var/lib/munge /var/log/munge
  runuser -u munge -- munged  # as its own user: munged refuses insecure ownership otherwise
}

start() {
  need_root start
  install
  start_munge
  mkdir -p "$CONF_DIR" "$STATE" "$SPOOL" "$LOGS" "$RUN"
  local new; new=$(render_conf)
  if [[ ! -f "$CONF_DIR/slurm.conf" ]] || [[ "$(cat "$CONF_DIR/slurm.conf")" != "$new" ]]; then
    if alive "$RUN/slurmctld.pid" || alive "$RUN/slurmd.pid"; then
      echo "slurm_local.sh: slurm.conf changed; restarting the daemons"; stop_slurm
    fi
    printf '%s\n' "$new" > "$CONF_DIR/slurm.conf"
  fi
  alive "$RUN/slurmctld.pid" || slurmctld
  alive "$RUN/slurmd.pid" || slurmd
  for _ in $(seq 1 60); do
    if sinfo -h -o '%T' 2>/dev/null | grep -qE '^(idle|mixed|allocated)'; then
      sinfo; return 0
    fi
    sleep 0.5
  done
  echo "slurm_local.sh: the node did not come up; see $LOGS/" >&2
  sinfo >&2 || true
  exit 1
}

stop_pidfile() {  # stop_pidfile FILE NAME: TERM the process, wait for it to exit
  local f=$1 name=$2
  if alive "$f"; then
    local pid; pid=$(cat "$f")
    kill "$pid"
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then kill -9 "$pid"; fi
    echo "slurm_local.sh: stopped $name ($pid)"
  fi
}

stop_slurm() {
  stop_pidfile "$RUN/slurmd.pid" slurmd
  stop_pidfile "$RUN/slurmctld.pid" slurmctld
}

case "${1:-}" in
  start) start ;;
  stop) need_root stop; stop_slurm; stop_pidfile "$MUNGE_PID" munged ;;
  status) sinfo ;;
  conf) render_conf ;;
  *) echo "usage: $0 start|stop|status|conf" >&2; exit 2 ;;
esac

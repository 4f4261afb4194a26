#!/bin/bash
# sample the disk use of a run folder every 15 s and keep the maximum: disk_sampler.sh results/paper peak.txt &
max=0
while true; do
  now=$(du -sb "$1" 2>/dev/null | cut -f1)
  if [ -n "$now" ] && [ "$now" -gt "$max" ]; then max=$now; echo "$(date +%T) $max" > "$2"; fi
  sleep 15
done

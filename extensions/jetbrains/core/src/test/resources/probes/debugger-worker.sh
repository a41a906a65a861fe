# Stands in for Rider's debugger worker, which starts the .NET program under the debugger. Run
# by a copy of sh named JetBrains.Debugger.Worker (Rider's worker is a native executable of that
# name): reads the target-only file itself (a shell builtin, so in this very process, which
# tether must leave unhooked), then starts the program given as its arguments, which tether
# hooks.
line=absent
{ read -r line < "$WORKER_PROBE_FILE"; } 2>/dev/null
echo "worker-file=${line:-absent}"
"$@"

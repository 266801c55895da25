#!/usr/bin/env bash
# Programs exec'd from a program under `usnet run` (a shell running commands, pyenv's chain
# of scripts) inherit its seccomp filter, whose addresses were the old program's. With
# address randomization off (gdb, `setarch -R`) each new program lies where the old one did:
# the filter must neither kill it before its own shim has its handler in nor keep its calls
# from usnet. The raw-syscall program, three execs deep, prints what it prints on the kernel;
# 200 commands from one shell all run.
usnet=$1 raw=$2 raw_static=$3
[ "$(id -u)" = 0 ] && unshare -n true 2>/dev/null || { echo "SKIP: needs root and network namespaces"; exit 77; }
command -v setarch >/dev/null || { echo "SKIP: setarch is not installed"; exit 77; }
status=0
k=$(unshare -n sh -c "ip link set lo up; '$raw'" 2>&1)
ks=$(unshare -n sh -c "ip link set lo up; '$raw_static'" 2>&1)
for layout in "fixed:setarch $(uname -m) -R" "random:"; do
  name=${layout%%:*} run=${layout#*:}
  u=$(timeout 30 unshare -n $run "$usnet" run -- bash -c "bash -c 'exec \"$raw\"'" 2>&1)
  if [ "$u" = "$k" ]; then echo "PASS: $name layout: three execs deep, usnet and the kernel print the same"
  else echo "FAIL: $name layout: three execs deep, the output differs from the kernel's"; diff <(echo "$k") <(echo "$u") | head -20; status=1; fi
  us=$(timeout 30 unshare -n $run "$usnet" run -- bash -c "bash -c '\"$raw_static\"'" 2>&1)
  if [ "$us" = "$ks" ]; then echo "PASS: $name layout: statically linked, three execs deep, the same as the kernel"
  else echo "FAIL: $name layout: statically linked, three execs deep, differs"; diff <(echo "$ks") <(echo "$us") | head -20; status=1; fi
  n=$(timeout 60 unshare -n $run "$usnet" run -- bash -c 'n=0; for i in $(seq 200); do /bin/true && n=$((n+1)); done; echo $n' 2>&1)
  [ "$n" = 200 ] && echo "PASS: $name layout: 200 commands from one shell ran" || { echo "FAIL: $name layout: of 200 commands: $n"; status=1; }
done
exit $status

#!/usr/bin/env bash
# One maintainer script of a package, as deb.sh ships it: @PROG@ and @SLOTS@ filled in, and the
# slots' lock functions (slot-lock.sh) where the script says `# @SLOT_LOCK@`.
# Usage: maint-script.sh <preinst|postinst|prerm|postrm> <relay|upstream|agent> <yes|no>
set -euo pipefail
here="$(dirname "$0")"
sed -e "s/@PROG@/$2/g; s/@SLOTS@/$3/g" -e "/^# @SLOT_LOCK@\$/{r $here/slot-lock.sh" -e 'd}' "$here/$1"

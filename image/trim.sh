#!/bin/sh
# What Ferry's runtime image leaves out of its Debian root filesystem. One list for both
# builds: `make image` runs it on mmdebstrap's tree (as a customize hook), the Dockerfile
# inside its runtime stage. Usage: trim.sh ROOT (as root; ROOT is / in the Dockerfile).
#
# Kept: what the steps run — mariadb and mariadb-dump (and their mysql* names), zstd, gzip,
# the CA certificates and the time zones — with the C libraries they load.
set -eu
root=${1:?usage: trim.sh ROOT}
# Perl only serves mariadb-client's Perl scripts (mytop, mariadb-report, …), which no step runs,
# and dpkg's and debconf's maintainer scripts, which never run in a container; apt is for building,
# not running; nobody logs in (login, PAM and its Berkeley DB); util-linux's disk and mount tools
# need privileges no Ferry pod has. dpkg keeps its database, so `dpkg -l` still lists the rest.
installed() { chroot "$root" dpkg-query -W -f '${db:Status-Abbrev} ${Package}\n' "$@" 2>/dev/null | awk '$1 == "ii" { print $2 }'; }
purge=$(installed perl perl-base debconf 'perl-modules-*' 'libperl5*' 'lib*-perl' apt libapt-pkg6.0 debian-archive-keyring gpgv \
        login passwd 'libpam*' libdb5.3 util-linux util-linux-extra mount bsdutils libmount1 libblkid1 libsmartcols1 \
        libsystemd0 libudev1 libgcrypt20 libgpg-error0 libgdbm6 libgdbm-compat4 e2fsprogs libext2fs2 libss2 libcom-err2 logsave)
if [ -n "$purge" ]; then
  out=$(chroot "$root" dpkg --purge --force-depends --force-remove-essential --force-remove-protected $purge 2>&1) \
    || { echo "trim.sh: dpkg --purge $purge failed in $root: $out" >&2; exit 1; }
fi
# The MariaDB client's other tools: 4–5 MB each, never run by a step.
for tool in mariadb-admin mariadb-binlog mariadb-check mariadb-conv mariadb-import mariadb-plugin \
            mariadb-show mariadb-slap mariadb-tzinfo-to-sql mariadb-waitpid my_print_defaults perror \
            replace resolve_stack_dump innotop mytop mariadb-access mariadb-find-rows mariadb-fix-extensions \
            mariadb-hotcopy mariadb-report mariadb-setpermission mariadb-secure-installation mariadb-dumpslow \
            mariadb-convert-table-format mariadb-embedded mariadb-client-test; do
  rm -f "$root/usr/bin/$tool"
done
# glibc's character-set converters (iconv modules, 8 MB): the steps speak UTF-8, which glibc
# converts without them, and the MariaDB client carries its own character sets.
rm -rf "$root"/usr/lib/x86_64-linux-gnu/gconv
# Symbolic links left pointing at a removed tool (mysqladmin → mariadb-admin, …).
find "$root/usr/bin" -xtype l -delete
# Documentation, manuals, translations, package lists and caches, logs.
rm -rf "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/info/* "$root"/usr/share/locale/* \
       "$root"/usr/share/lintian "$root"/usr/share/linda "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin \
       "$root"/var/cache/debconf/*-old "$root"/var/log/*
# Nothing kept may load a library removed above: the programs, the libraries, and the MariaDB
# client's authentication plugins (loaded with dlopen, so no program names them).
[ -x "$root/usr/bin/ldd" ] || { echo "trim.sh: $root/usr/bin/ldd is gone; cannot check the libraries" >&2; exit 1; }
broken=$(chroot "$root" /bin/sh -c 'for f in /usr/bin/* /usr/sbin/* /usr/local/bin/* /usr/lib/x86_64-linux-gnu/*.so* /usr/lib/x86_64-linux-gnu/libmariadb3/plugin/*.so; do
  [ -f "$f" ] && [ ! -L "$f" ] || continue
  out=$(ldd "$f" 2>&1) || case $out in *"not a dynamic executable"*|*"statically linked"*) continue ;; *) echo "$f"; continue ;; esac
  case $out in *"not found"*) echo "$f" ;; esac
done')
if [ -n "$broken" ]; then
  echo "trim.sh: these still load a removed library: $broken" >&2
  exit 1
fi

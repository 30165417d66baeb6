#!/bin/sh
# nixery-fcgi on shared hosting: mod_fcgid starts this as the site's
# FastCGI program (see the htaccess beside it). The settings file sits
# beside the document root, outside it; Nix is the host's, through its
# daemon. /usr/sbin/nixery-fcgi is where the host installed the program.
here=$(dirname "$0")
exec env NIXERY_CONFIG="$here/../nixery-fcgi.conf" NIX_REMOTE=daemon /usr/sbin/nixery-fcgi

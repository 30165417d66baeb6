# The demo package set: a tiny, offline stand-in for nixpkgs used by the
# nixery-fcgi tests.  Its only binary inputs are static busyboxes from
# Debian: the host's own (/bin/busybox from busybox-static), which runs
# every builder, and for aarch64-linux on another host the aarch64 one of
# busybox-static:arm64, which the aarch64 packages hold.  Everything else
# is written by shell scripts run with the host's busybox.  See ./README.
#
# Called like nixpkgs: `import ./nix/demo { inherit system; }`.  For
# aarch64-linux on an x86_64 host the packages are built here without
# emulation (Nix must accept the system: extra-platforms = aarch64-linux);
# only the busybox they hold is aarch64's.
{ system ? builtins.currentSystem, ... }:

let
  hostSystem = builtins.currentSystem;

  # The static busybox binary, imported as a store directory holding just
  # `busybox`.  A directory rather than the bare file because busybox picks
  # the applet from basename(argv[0]), and Nix passes the builder's basename
  # as argv[0]; a store file would be called "<hash>-busybox-static".
  # On Debian 12 /bin is a symlink to usr/bin, and builtins.path would store
  # the symlink itself, so import the real directory.
  staticFrom = dir: builtins.path {
    name = "busybox-static";
    path = dir;
    filter = path: type: baseNameOf path == "busybox";
  };
  busyboxStatic = staticFrom (if builtins.pathExists /usr/bin/busybox then /usr/bin else /bin);

  # aarch64's busybox, for the aarch64 packages of another host: Debian's
  # busybox-static:arm64, unpacked by ./run into var/busybox-arm64 of the
  # source tree, or where NIXERY_DEMO_BUSYBOX_AARCH64 names its folder.
  # Without it every aarch64 package is refused at evaluation, with this
  # message.
  aarch64Dir =
    let env = builtins.getEnv "NIXERY_DEMO_BUSYBOX_AARCH64";
    in if env != "" then /. + env else ./../../var/busybox-arm64/bin;
  targetStatic =
    if system == hostSystem then busyboxStatic
    else if system == "aarch64-linux" && builtins.pathExists (aarch64Dir + "/busybox") then staticFrom aarch64Dir
    else throw "the demo package set has no busybox for ${system}: ./run unpacks Debian's busybox-static:arm64 into var/busybox-arm64 (or set NIXERY_DEMO_BUSYBOX_AARCH64 to the folder of an aarch64 busybox)";

  # NIXERY_DEMO_NONCE, when set, goes into every derivation (busybox
  # too), so that a benchmark builds a package set anew, nothing from the
  # store; unset, the derivations are as they always were.
  nonce = builtins.getEnv "NIXERY_DEMO_NONCE";
  withNonce = attrs: if nonce == "" then attrs else attrs // { NIXERY_DEMO_NONCE = nonce; };

  # Shell snippet prepended to every mkDemo build script.
  prelude = ''
    set -e
    # writeScript FILE: write stdin to FILE (creating parent dirs), executable.
    writeScript() { mkdir -p "$(dirname "$1")"; cat > "$1"; chmod 0555 "$1"; }
    # substOut FILE: replace @out@ by $out (for files that name themselves).
    substOut() { sed -i "s|@out@|$out|g" "$1"; }
  '';

  # Helper for every package but busybox itself.  The builder is the busybox
  # package's ash with only busybox on PATH.  `deps` are build inputs, exposed
  # to the script as the space-separated `$deps`; they become runtime
  # references only if the script writes their paths into $out.
  # For another system, the builder and PATH are the host's busybox (the
  # build runs here), and the package's own paths (#!, links) the
  # system's; on the host's own system they are one package.
  mkDemo = { name, script, deps ? [ ], env ? { } }:
    derivation (withNonce {
      inherit name system deps;
      builder = "${hostBusybox}/bin/sh";
      args = [ "-c" (prelude + script) ];
      PATH = "${hostBusybox}/bin";
      # Everything here is cheap and local; never ask a binary cache.
      preferLocalBuild = true;
      allowSubstitutes = false;
    } // env);

  # A package with a single data file, $out/share/demo/NAME, that names its
  # deps (making them runtime references).  Used for graph-shape fixtures.
  mkData = { name, deps ? [ ] }: mkDemo {
    inherit name deps;
    script = ''
      mkdir -p $out/share/demo
      { echo ${name}; for d in $deps; do echo "$d"; done; } > $out/share/demo/${name}
    '';
  };

  # A package whose only content is $out/bin/BIN, printing its own name.
  mkTool = { name, bin ? name }: mkDemo {
    inherit name;
    script = ''
      writeScript $out/bin/${bin} <<'EOF'
      #!${busybox}/bin/sh
      echo ${bin}
      EOF
    '';
  };

  # MIB MiB of incompressible (random, hence not reproducible) data in
  # $out/share/bulk/part-NNN, at most 64 MiB per file, plus $out/bin/NAME.
  # Deps are listed in $out/share/bulk/deps so they are runtime references.
  mkBulk = { name, mib, deps ? [ ] }: mkDemo {
    inherit name deps;
    script = ''
      mkdir -p $out/share/bulk
      i=0
      left=${toString mib}
      while [ $left -gt 0 ]; do
        n=$left; [ $n -le 64 ] || n=64
        dd if=/dev/urandom of=$out/share/bulk/part-$(printf %03d $i) \
          bs=1M count=$n iflag=fullblock 2>/dev/null
        left=$((left - n)); i=$((i + 1))
      done
      for d in $deps; do echo "$d"; done > $out/share/bulk/deps
      writeScript $out/bin/${name} <<'EOF'
      #!${busybox}/bin/sh
      echo ${name}
      EOF
    '';
  };

  # MIB MiB of text in $out/share/text/part-NNN (64 MiB each), plus
  # $out/bin/NAME: 16 MiB of lines drawn by awk with a fixed seed (LINE,
  # an awk statement that sets `line` from the `nw` words `w` below and
  # rand()), repeated. Deflate sees no repetition (its window is 32 KiB),
  # so it compresses as fresh text does, and the bytes are the same on
  # every build.
  mkText = { name, mib, line }: mkDemo {
    inherit name;
    script = ''
      mkdir -p $out/share/text
      awk 'BEGIN {
        srand(42)
        nw = split("the of and to in is for on that with as by be this from or are it an at " \
              "not have was which can all use when if will more one also new file value set " \
              "name list data type build path store package system version option default " \
              "error return output input", w, " ")
        n = 0
        while (n < 16 * 1048576) {
          ${line}
          printf "%s", line; n += length(line)
        }
      }' | head -c 16777216 > block
      i=0
      left=${toString mib}
      while [ $left -gt 0 ]; do
        n=$left; [ $n -le 64 ] || n=64
        f=$out/share/text/part-$(printf %03d $i)
        : > $f
        while [ $n -gt 0 ]; do
          if [ $n -ge 16 ]; then cat block >> $f; n=$((n - 16)); else head -c $((n * 1048576)) block >> $f; n=0; fi
        done
        left=$((left - 64)); i=$((i + 1))
      done
      rm block
      writeScript $out/bin/${name} <<'EOF'
      #!${busybox}/bin/sh
      echo ${name}
      EOF
    '';
  };

  # Zero-padded three-digit decimal, for dep-NNN names.
  pad3 = i: let s = toString i; in
    builtins.substring 0 (3 - builtins.stringLength s) "000" + s;

  # ------------------------------------------------------------------
  # Packages
  # ------------------------------------------------------------------

  # busybox's applet links (bin/ls -> busybox, ...), made once by the
  # host's busybox, for every system's busybox to copy: a few hundred
  # processes, which the packages of each platform need not start again.
  busyboxLinks = derivation (withNonce {
    name = "busybox-links";
    system = hostSystem;
    builder = "${busyboxStatic}/busybox";
    args = [ "sh" "-c" ''
      set -e
      bb=${busyboxStatic}/busybox
      $bb mkdir -p $out/bin
      for a in $($bb --list); do
        [ "$a" = busybox ] || $bb ln -s busybox "$out/bin/$a"
      done
    '' ];
    preferLocalBuild = true;
    allowSubstitutes = false;
  });

  # busybox itself: the binary (the host's, or the system's from Debian)
  # and the links, copied; built with the imported binary since nothing
  # else exists yet.
  mkBusybox = sys: static: derivation (withNonce {
    name = "busybox";
    system = sys;
    builder = "${busyboxStatic}/busybox";
    args = [ "sh" "-c" ''
      set -e
      bb=${busyboxStatic}/busybox
      $bb mkdir -p $out/bin
      $bb cp -RP ${busyboxLinks}/bin/. $out/bin/
      $bb cp ${static}/busybox $out/bin/busybox
    '' ];
    preferLocalBuild = true;
    allowSubstitutes = false;
  });
  busybox = mkBusybox system targetStatic;
  # What runs the builders: the host's own busybox package, for every
  # system; only at build time, never in an output.
  hostBusybox = if system == hostSystem then busybox else mkBusybox hostSystem busyboxStatic;

  # GNU hello stand-in.  Runtime scripts use absolute busybox paths (or
  # ash builtins) so they work in images without a PATH set up.
  hello = mkDemo {
    name = "hello";
    script = ''
      writeScript $out/bin/hello <<'EOF'
      #!${busybox}/bin/sh
      # Same default greeting and -g/--greeting option as GNU hello.
      greeting='Hello, world!'
      while [ $# -gt 0 ]; do
        case $1 in
          -g|--greeting) greeting=$2; shift 2 ;;
          --greeting=*) greeting=''${1#--greeting=}; shift ;;
          -v|--version) echo 'hello (nixery demo) 2.12'; exit 0 ;;
          *) echo "hello: unrecognized argument: $1" >&2; exit 1 ;;
        esac
      done
      echo "$greeting"
      EOF
    '';
  };

  # bash stand-in: busybox ash.  sh is a symlink (argv[0] "sh" is an applet);
  # bash must be a wrapper since busybox has no "bash" applet.
  bashInteractive = mkDemo {
    name = "bash-interactive";
    script = ''
      mkdir -p $out/bin
      ln -s ${busybox}/bin/busybox $out/bin/sh
      writeScript $out/bin/bash <<'EOF'
      #!${busybox}/bin/sh
      exec ${busybox}/bin/sh "$@"
      EOF
    '';
  };

  # coreutils stand-in: busybox applet symlinks for the usual tools.
  coreutils = mkDemo {
    name = "coreutils";
    script = ''
      mkdir -p $out/bin
      applets=" $(busybox --list | tr '\n' ' ') "
      for a in basename cat chgrp chmod chown cp cut date dd df dirname du \
               echo env expand expr false fold head id ln ls md5sum mkdir \
               mkfifo mknod mktemp mv nl nproc od paste printf pwd readlink \
               realpath rm rmdir seq sha1sum sha256sum sha512sum shuf sleep \
               sort stat sync tac tail tee test timeout touch tr true truncate \
               tty uname uniq unlink wc whoami yes; do
        # Fail loudly rather than ship a dangling applet link.
        case "$applets" in *" $a "*) ;; *) echo "no busybox applet: $a" >&2; exit 1 ;; esac
        ln -s ${busybox}/bin/busybox $out/bin/$a
      done
      ln -s ${busybox}/bin/busybox "$out/bin/["
    '';
  };

  # moreutils stand-in: sponge, ts and chronic as small sh scripts.
  moreutils = mkDemo {
    name = "moreutils";
    script = ''
      writeScript $out/bin/sponge <<'EOF'
      #!${busybox}/bin/sh
      # sponge [-a] [FILE]: soak up all of stdin, then write it to FILE (or
      # stdout).  Kept in memory (no /tmp needed); NUL bytes are not kept.
      append=
      if [ "$1" = -a ]; then append=1; shift; fi
      data=$(${busybox}/bin/cat; echo x) || exit 1
      data=''${data%x}
      if [ $# -eq 0 ]; then printf '%s' "$data"
      elif [ -n "$append" ]; then printf '%s' "$data" >> "$1"
      else printf '%s' "$data" > "$1"
      fi
      EOF

      writeScript $out/bin/ts <<'EOF'
      #!${busybox}/bin/sh
      # ts [-i|-s] [FORMAT]: timestamp each line of stdin (busybox ts).
      exec ${busybox}/bin/ts "$@"
      EOF

      writeScript $out/bin/chronic <<'EOF'
      #!${busybox}/bin/sh
      # chronic COMMAND...: run COMMAND quietly; show its (combined) output
      # only if it fails.  Exits with COMMAND's status.
      if [ $# -eq 0 ]; then echo "usage: chronic COMMAND [ARG]..." >&2; exit 1; fi
      out=$("$@" 2>&1)
      rc=$?
      if [ $rc -ne 0 ] && [ -n "$out" ]; then printf '%s\n' "$out"; fi
      exit $rc
      EOF
    '';
  };

  # nano stand-in: busybox vi.
  nano = mkDemo {
    name = "nano";
    script = ''
      writeScript $out/bin/nano <<'EOF'
      #!${busybox}/bin/sh
      exec ${busybox}/bin/vi "$@"
      EOF
    '';
  };

  # cacert stand-in: a fixed PEM-looking file at the nixpkgs location.  Not a
  # real certificate; it only has to exist.
  cacert = mkDemo {
    name = "nss-cacert";
    script = ''
      mkdir -p $out/etc/ssl/certs
      cat > $out/etc/ssl/certs/ca-bundle.crt <<'EOF'
      ##
      ## Demo CA bundle for nixery-fcgi tests (NOT a real certificate).
      ##

      Nixery Demo Root CA
      ===================
      -----BEGIN CERTIFICATE-----
      TklYRVJZIERFTU8gQ0VSVElGSUNBVEUgLSBOT1QgQSBSRUFMIENFUlRJRklDQVRF
      IC0gVEhJUyBGSUxFIE9OTFkgU1RBTkRTIElOIEZPUiBUSEUgTklYUEtHUyBDQUNF
      UlQgUEFDS0FHRSBJTiBPRkZMSU5FIFRFU1RTIE9GIE5JWEVSWS1GQ0dJLiBERU1P
      -----END CERTIFICATE-----
      EOF
    '';
  };

  # iana-etc stand-in: a few real lines of /etc/protocols and /etc/services.
  iana-etc = mkDemo {
    name = "iana-etc";
    script = ''
      mkdir -p $out/etc
      cat > $out/etc/protocols <<'EOF'
      ip      0   IP       # internet protocol, pseudo protocol number
      icmp    1   ICMP     # internet control message protocol
      igmp    2   IGMP     # Internet Group Management
      tcp     6   TCP      # transmission control protocol
      udp     17  UDP      # user datagram protocol
      ipv6    41  IPv6     # Internet Protocol, version 6
      ipv6-icmp 58 IPv6-ICMP # ICMP for IPv6
      EOF
      cat > $out/etc/services <<'EOF'
      ftp        21/tcp
      ssh        22/tcp          # SSH Remote Login Protocol
      telnet     23/tcp
      smtp       25/tcp   mail
      domain     53/tcp          # Domain Name Server
      domain     53/udp
      http       80/tcp   www    # WorldWideWeb HTTP
      ntp        123/udp         # Network Time Protocol
      https      443/tcp         # http protocol over TLS/SSL
      https      443/udp         # HTTP/3
      EOF
    '';
  };

  # A shared runtime dependency of cowsay and figlet: data plus a sourced
  # shell library (stands in for a shared C library).
  libgreet = mkDemo {
    name = "libgreet";
    script = ''
      mkdir -p $out/share/greet $out/lib
      echo 'Greetings from libgreet!' > $out/share/greet/greeting.txt
      cat > $out/lib/libgreet.sh <<'EOF'
      # libgreet.sh: sourced by cowsay and figlet.
      GREET_DATA=@out@/share/greet

      # greet_default: print the default message.
      greet_default() { ${busybox}/bin/cat "$GREET_DATA/greeting.txt"; }

      # greet_rule N STR: print STR repeated N times (no newline).
      greet_rule() {
        _n=$1 _s=
        while [ "$_n" -gt 0 ]; do _s="$_s$2"; _n=$((_n - 1)); done
        printf '%s' "$_s"
      }
      EOF
      substOut $out/lib/libgreet.sh
    '';
  };

  cowsay = mkDemo {
    name = "cowsay";
    script = ''
      writeScript $out/bin/cowsay <<'EOF'
      #!${busybox}/bin/sh
      # cowsay [MSG...]: a cow saying MSG (default: libgreet's greeting).
      . ${libgreet}/lib/libgreet.sh
      msg="$*"
      [ -n "$msg" ] || msg=$(greet_default)
      w=$((''${#msg} + 2))
      echo " $(greet_rule $w _)"
      echo "< $msg >"
      echo " $(greet_rule $w -)"
      echo '        \   ^__^'
      echo '         \  (oo)\_______'
      echo '            (__)\       )\/\'
      echo '                ||----w |'
      echo '                ||     ||'
      EOF
    '';
  };

  figlet = mkDemo {
    name = "figlet";
    script = ''
      writeScript $out/bin/figlet <<'EOF'
      #!${busybox}/bin/sh
      # figlet [MSG...]: MSG in capitals, letter-spaced, in a box of #
      # (default: libgreet's greeting).
      . ${libgreet}/lib/libgreet.sh
      msg="$*"
      [ -n "$msg" ] || msg=$(greet_default)
      big=$(printf '%s' "$msg" | ${busybox}/bin/tr a-z A-Z | ${busybox}/bin/sed 's/./& /g; s/ $//')
      w=$((''${#big} + 6))
      line="#$(greet_rule $((w - 2)) ' ')#"
      greet_rule $w '#'; echo
      echo "$line"
      echo "#  $big  #"
      echo "$line"
      greet_rule $w '#'; echo
      EOF
    '';
  };

  # Attribute-path fixtures: a nested set (like python3Packages) and a
  # package whose attribute needs a leading underscore (like _1password).
  demoPackages = {
    Alpha = mkTool { name = "alpha"; };
    beta = mkTool { name = "beta"; };
  };
  _1password = mkTool { name = "1password-demo"; };

  # Never finishes: for build-timeout tests.  The word nixery-sleeper is in
  # the builder's command line (the script below) and, after the exec, in
  # the sleeping process's argv[0] (a busybox symlink named sleep inside a
  # nixery-sleeper directory), so `pgrep -f nixery-sleeper` finds it.
  # NIXERY_TEST_NONCE lets a test force a fresh, never-built derivation.
  sleeper = mkDemo {
    name = "sleeper";
    env.NIXERY_TEST_NONCE = builtins.getEnv "NIXERY_TEST_NONCE";
    script = ''
      # nixery-sleeper
      mkdir nixery-sleeper
      ln -s ${busybox}/bin/busybox nixery-sleeper/sleep
      exec "$PWD/nixery-sleeper/sleep" 86400
    '';
  };

  broken = mkDemo {
    name = "broken";
    script = ''
      echo 'demo: this package fails to build on purpose' >&2
      exit 1
    '';
  };

  # manydeps: 120 small packages dep-000..dep-119 in groups of four, each
  # group a chain (a->b->c->d) or a diamond (a->b, a->c, b->d, c->d); every
  # fifth group's tail also depends on the next group's head.  Edges only go
  # to higher indices, so the graph is acyclic.  manydeps references the
  # heads nobody else references; the closure is all 120 plus itself.
  manydepsEdges = i:
    let
      g = i / 4;
      k = i - g * 4; # position in group: 0=a 1=b 2=c 3=d
      diamond = g - (g / 2) * 2 == 1;
    in
    if k == 0 then (if diamond then [ (i + 1) (i + 2) ] else [ (i + 1) ])
    else if k == 1 then (if diamond then [ (i + 2) ] else [ (i + 1) ])
    else if k == 2 then [ (i + 1) ]
    else (if g - (g / 5) * 5 == 4 && i + 1 < 120 then [ (i + 1) ] else [ ]);

  manydepsParts = builtins.genList
    (i: mkData {
      name = "dep-${pad3 i}";
      deps = map (builtins.elemAt manydepsParts) (manydepsEdges i);
    })
    120;

  manydeps =
    let
      referenced = builtins.listToAttrs (map
        (j: { name = toString j; value = true; })
        (builtins.concatMap manydepsEdges (builtins.genList (i: i) 120)));
      roots = builtins.filter (i: !(referenced ? ${toString i}))
        (builtins.genList (i: i) 120);
    in
    mkData {
      name = "manydeps";
      deps = map (builtins.elemAt manydepsParts) roots;
    };

  # diamond -> {diamond-left, diamond-right} -> diamond-base.
  diamondBase = mkData { name = "diamond-base"; };
  diamondLeft = mkData { name = "diamond-left"; deps = [ diamondBase ]; };
  diamondRight = mkData { name = "diamond-right"; deps = [ diamondBase ]; };
  diamond = mkData { name = "diamond"; deps = [ diamondLeft diamondRight ]; };

  bulk500m = mkBulk { name = "bulk500m"; mib = 500; };

  # Every kind of file a store path can hold, for the packing tests: names
  # in UTF-8 (CJK, combining and precomposed accents) and not (Latin-1,
  # stray bytes), with spaces, quotes, backslashes, a newline and a leading
  # dash; a 255-byte name; paths over 100 and over 255 bytes; symbolic
  # links that are absolute, relative, dangling and over 255 bytes long;
  # hard links; executable and read-only files; an empty file and an
  # empty directory. Names are written with printf's octal escapes.
  oddfiles = mkDemo {
    name = "oddfiles";
    script = ''
      d=$out/share/oddfiles
      mkdir -p $d && cd $d
      repeat() { i=0; s=; while [ $i -lt $2 ]; do s="$s$1"; i=$((i + 1)); done; printf '%s' "$s"; }
      echo cjk > "$(printf '\346\227\245\346\234\254\350\252\236.txt')"
      echo decomposed > "$(printf 'cafe\314\201')"
      echo precomposed > "$(printf 'caf\303\251')"
      echo latin1 > "$(printf 'latin1-caf\351')"
      echo stray > "$(printf 'stray-\377\376\200.bin')"
      echo newline > "$(printf 'line\nbreak')"
      echo quotes > 'spaces "double" '"'single'"' back\slash'
      echo dash > ./-leading-dash
      : > empty
      mkdir emptydir
      echo long > "$(repeat n 255)"
      mkdir -p "deep/$(repeat a 60)/$(repeat b 60)/$(repeat c 100)"
      echo deep > "deep/$(repeat a 60)/$(repeat b 60)/$(repeat c 100)/$(repeat f 100)"
      echo hard > hard-a
      ln hard-a hard-b
      printf '#!${busybox}/bin/sh\necho run\n' > run.sh
      chmod 555 run.sh
      echo readonly > readonly
      chmod 444 readonly
      ln -s $out/share/oddfiles/empty absolute-link
      ln -s ../oddfiles/hard-a relative-link
      ln -s /nix/store/00000000000000000000000000000000-nowhere dangling-link
      ln -s "$(printf 'caf\303\251')" utf8-link
      ln -s "$(printf 'latin1-caf\351')" latin1-link
      ln -s "deep/$(repeat a 60)/$(repeat b 60)/$(repeat c 100)/$(repeat f 100)" long-link
      ln -s "/$(repeat x 300)" long-dangling-link
    '';
  };

  # What nixpkgs refuses to evaluate, and a user may well ask for: a
  # removed alias (nixpkgs has thousands, each a throw), a package whose
  # assertion fails, and one marked broken, refused as nixpkgs' meta check
  # refuses it (its outPath throws).
  removed = throw "removed has been removed from the demo package set: use hello instead";
  assertfails = assert system == "nowhere-linux"; hello;
  markedBroken = (mkTool { name = "markedbroken"; }) // {
    meta.broken = true;
    outPath = throw "Package ‘markedbroken’ in nix/demo/default.nix is marked as broken, refusing to evaluate.";
    drvPath = throw "Package ‘markedbroken’ in nix/demo/default.nix is marked as broken, refusing to evaluate.";
  };

  # Offered for x86_64-linux only, as nixpkgs says of a package by its
  # meta.platforms: an image index with it leaves the other platforms out.
  amd64only = (mkTool { name = "amd64only"; }) // { meta.platforms = [ "x86_64-linux" ]; };

  # Two outputs, like nixpkgs' libraries: `libmulti` is the default output
  # (bin/multi), `libmulti.dev` the headers (include/multi.h).
  libmulti = mkDemo {
    name = "libmulti";
    env.outputs = [ "out" "dev" ];
    script = ''
      mkdir -p $out/bin $dev/include
      printf '#!${busybox}/bin/sh\necho multi\n' > $out/bin/multi
      chmod 555 $out/bin/multi
      echo '#define MULTI 1' > $dev/include/multi.h
    '';
  };

in
{
  inherit
    busybox hello bashInteractive coreutils moreutils nano cacert iana-etc
    libgreet cowsay figlet
    demoPackages _1password
    sleeper broken
    manydeps manydepsParts
    diamond diamondLeft diamondRight diamondBase
    bulk500m libmulti
    oddfiles removed assertfails markedBroken amd64only
    # Builders, for tests that need a package of their own (like nixpkgs'
    # trivial builders).
    mkDemo mkBulk;

  bulk1g = mkBulk { name = "bulk1g"; mib = 1024; };
  # Listings, as in a checksum file or a build log: a 128-bit hex digest, a
  # 32-bit hex field and a word per line. Deflate finds few matches in
  # random digits and mostly codes them in fewer bits: gzip -6 keeps 0.56
  # of it, and Go's compress/gzip 0.92x of that.
  text512m = mkText {
    name = "text512m"; mib = 512;
    line = ''
      line = ""
      for (i = 0; i < 10; i++) line = line sprintf("%04x", int(rand() * 65536)) (i == 7 ? " " : "")
      line = line " " w[1 + int(rand() * nw)] "\n"
    '';
  };
  # Prose of a sort: 6 to 15 words drawn from 56, and a number. Deflate
  # matches most of it: gzip -6 keeps 0.30 of it.
  words512m = mkText {
    name = "words512m"; mib = 512;
    line = ''
      line = ""; k = 6 + int(rand() * 10)
      for (i = 0; i < k; i++) line = line w[1 + int(rand() * nw)] " "
      line = line int(rand() * 100000) "\n"
    '';
  };
  bulka = mkBulk { name = "bulka"; mib = 1; deps = [ bulk500m ]; };
  bulkb = mkBulk { name = "bulkb"; mib = 1; deps = [ bulk500m ]; };
  bulksmall = mkBulk { name = "bulksmall"; mib = 2; };
  # Layers sent to a bucket in three parts (5 MiB each, and the rest):
  # one to pull, one to cut short.
  bulk12m = mkBulk { name = "bulk12m"; mib = 12; };
  bulk11m = mkBulk { name = "bulk11m"; mib = 11; };
}

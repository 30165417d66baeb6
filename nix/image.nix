# Resolves the packages of an image request in a package set.
#
# Everything from the request arrives as data through --argstr: `packages`
# is a JSON list of names, never spliced into Nix source.
#
#   resolve  -> for each system of `systems` (a JSON list; [ system ] when
#               it is empty), all in this one evaluation:
#               { "<system>" = { outputs = [ "/nix/store/..." ]; }; ... },
#               or, for a system where some names are at fault,
#               { unknown = [ names ]; refused = [ names ];
#                 unsupported = [ names ]; } (evaluation only: nothing is
#               built). A name is refused when evaluating it throws or fails
#               an assertion: a removed alias, a package marked broken,
#               unfree or insecure; unsupported when its meta.platforms
#               leaves the system out (or meta.badPlatforms names it).
#   explain  -> evaluates the packages without catching anything, so that
#               Nix prints why a refused name fails
#   contents -> the list of derivations for `system`, for nix-build
#   contentsAll -> those of every system of `systems`, for one nix-build of
#               several platforms (the names at fault on a system are left
#               out: they are not built)
#   names    -> the attribute names of the package set, or of the set the
#               one name in `packages` leads to (for the search of the
#               landing page); nothing is forced but that set
{ packages ? "[]"
, srcType ? "path"
, srcArgs ? ""
, system ? builtins.currentSystem
, systems ? ""
}:

let
  inherit (builtins) all elem filter fromJSON head isAttrs isList isString
    listToAttrs match split attrNames foldl' replaceStrings tryEval;

  toLower = replaceStrings
    [ "A" "B" "C" "D" "E" "F" "G" "H" "I" "J" "K" "L" "M" "N" "O" "P" "Q" "R" "S" "T" "U" "V" "W" "X" "Y" "Z" ]
    [ "a" "b" "c" "d" "e" "f" "g" "h" "i" "j" "k" "l" "m" "n" "o" "p" "q" "r" "s" "t" "u" "v" "w" "x" "y" "z" ];

  # The source is fetched once, and imported once for each system.
  source =
    if srcType == "path" then /. + srcArgs
    else if srcType == "nixpkgs" then
      fetchTarball "https://github.com/NixOS/nixpkgs/archive/${srcArgs}.tar.gz"
    else if srcType == "git" then fetchGit (fromJSON srcArgs)
    else throw "unknown package source type ${srcType}";
  pkgsFor = sys: import source { system = sys; };
  pkgs = pkgsFor system;

  # Docker names are lowercase and Nix attributes are not: match each level
  # of a dotted path exactly first, then ignoring case (the first match in
  # sorted order wins, so the choice is stable).
  lookup = set: name:
    if !isAttrs set then null
    else if set ? ${name} then set.${name}
    else
      let matches = filter (n: toLower n == toLower name) (attrNames set);
      in if matches == [ ] then null else set.${head matches};

  # Attribute names cannot start with a digit unquoted; nixpkgs prefixes
  # them with "_" (1password -> _1password).
  lookupLevel = set: name:
    let direct = lookup set name;
    in if direct == null && match "[0-9].*" name != null
       then lookup set ("_" + name)
       else direct;

  resolveIn = pkgs: name:
    foldl' (set: level: if set == null then null else lookupLevel set level)
      pkgs (filter isString (split "\\." name));
  resolveName = resolveIn pkgs;

  isDerivation = v: isAttrs v && (v.type or null) == "derivation";

  # Whether a package is offered for sys by its meta: platforms lists it
  # (when it is a list of system names; nixpkgs' patterns are left to its
  # own check, which refuses the package) and badPlatforms does not.
  offered = sys: value:
    let
      meta = value.meta or { };
      names = l: isList l && all isString l;
      platforms = meta.platforms or null;
      bad = meta.badPlatforms or [ ];
    in (!(names platforms) || elem sys platforms) && !(names bad && elem sys bad);

  # Each name on its own: one that throws must not hide the others.
  # Forcing outPath runs nixpkgs' meta checks (broken, unfree, insecure);
  # meta.platforms is read first, so that a package nixpkgs does not offer
  # for a system is told as such, not as refused.
  resolveChecked = pkgs: sys: name:
    let
      looked = tryEval (let v = resolveIn pkgs name; in if isDerivation v then v else null);
      value = if looked.success then looked.value else null;
      checked = tryEval (offered sys value);
      supported = value == null || !checked.success || checked.value;
      forced = tryEval (builtins.seq value.outPath true);
    in {
      inherit name value;
      unsupported = value != null && !supported;
      refused = !looked.success || (value != null && supported && !forced.success);
    };

  names = fromJSON packages;
  resolveFor = sys:
    let
      requested = map (resolveChecked (pkgsFor sys) sys) names;
      namesOf = rs: map (r: r.name) rs;
      unknown = namesOf (filter (r: !r.refused && r.value == null) requested);
      refused = namesOf (filter (r: r.refused) requested);
      unsupported = namesOf (filter (r: r.unsupported) requested);
    in {
      found = filter (r: !r.refused && !r.unsupported && r.value != null) requested;
      answer =
        if unknown != [ ] || refused != [ ] || unsupported != [ ] then { inherit unknown refused unsupported; }
        else { outputs = map (r: r.value.outPath) (filter (r: r.value != null) requested); };
    };
  wantedSystems = if systems == "" then [ system ] else fromJSON systems;
in
{
  contents = map (r: r.value) (resolveFor system).found;

  contentsAll = builtins.concatMap (sys: map (r: r.value) (resolveFor sys).found) wantedSystems;

  resolve = listToAttrs (map (sys: { name = sys; value = (resolveFor sys).answer; }) wantedSystems);

  names =
    let
      wanted = fromJSON packages;
      set = if wanted == [ ] then pkgs else resolveName (head wanted);
    in if isAttrs set && !(isDerivation set) then attrNames set else [ ];

  explain = map (name:
    let value = resolveName name;
    in if isDerivation value then value.outPath else null) names;
}

# Resolves the packages of an image request in a package set.
#
# Everything from the request arrives as data through --argstr: `packages`
# is a JSON list of names, never spliced into Nix source.
#
#   resolve  -> { outputs = [ "/nix/store/..." ]; }, or, when some names
#               are at fault, { unknown = [ names ]; refused = [ names ]; }
#               (evaluation only: nothing is built). A name is refused when
#               evaluating it throws or fails an assertion: a removed alias,
#               a package marked broken, unfree or insecure.
#   explain  -> evaluates the packages without catching anything, so that
#               Nix prints why a refused name fails
#   contents -> the list of derivations, for nix-build
#   names    -> the attribute names of the package set, or of the set the
#               one name in `packages` leads to (for the search of the
#               landing page); nothing is forced but that set
{ packages ? "[]"
, srcType ? "path"
, srcArgs ? ""
, system ? builtins.currentSystem
}:

let
  inherit (builtins) filter fromJSON head isAttrs isString match split
    attrNames foldl' replaceStrings;

  toLower = replaceStrings
    [ "A" "B" "C" "D" "E" "F" "G" "H" "I" "J" "K" "L" "M" "N" "O" "P" "Q" "R" "S" "T" "U" "V" "W" "X" "Y" "Z" ]
    [ "a" "b" "c" "d" "e" "f" "g" "h" "i" "j" "k" "l" "m" "n" "o" "p" "q" "r" "s" "t" "u" "v" "w" "x" "y" "z" ];

  importArgs = { inherit system; };

  pkgs =
    if srcType == "path" then import (/. + srcArgs) importArgs
    else if srcType == "nixpkgs" then
      import (fetchTarball "https://github.com/NixOS/nixpkgs/archive/${srcArgs}.tar.gz") importArgs
    else if srcType == "git" then import (fetchGit (fromJSON srcArgs)) importArgs
    else throw "unknown package source type ${srcType}";

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

  resolveName = name:
    foldl' (set: level: if set == null then null else lookupLevel set level)
      pkgs (filter isString (split "\\." name));

  isDerivation = v: isAttrs v && (v.type or null) == "derivation";

  # Each name on its own: one that throws must not hide the others.
  # Forcing outPath runs nixpkgs' meta checks (broken, unfree, insecure).
  resolveChecked = name:
    let
      tried = builtins.tryEval (
        let value = resolveName name;
        in if isDerivation value then builtins.seq value.outPath value else null);
    in { inherit name; inherit (tried) value; refused = !tried.success; };

  names = fromJSON packages;
  requested = map resolveChecked names;
  found = filter (r: !r.refused && r.value != null) requested;
  namesOf = rs: map (r: r.name) rs;
  unknown = namesOf (filter (r: !r.refused && r.value == null) requested);
  refused = namesOf (filter (r: r.refused) requested);
in
{
  contents = map (r: r.value) found;

  resolve =
    if unknown != [ ] || refused != [ ] then { inherit unknown refused; }
    else { outputs = map (r: r.value.outPath) found; };

  names =
    let
      wanted = fromJSON packages;
      set = if wanted == [ ] then pkgs else resolveName (head wanted);
    in if isAttrs set && !(isDerivation set) then attrNames set else [ ];

  explain = map (name:
    let value = resolveName name;
    in if isDerivation value then value.outPath else null) names;
}

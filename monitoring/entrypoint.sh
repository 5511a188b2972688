# How every monitoring server starts: write the files the stack rendered and the secrets it
# holds, from environment variables, then run the server (`exec "$@"`). POSIX sh: busybox ash
# in the images. The start command runs it as
#   /bin/sh -c 'eval "$PIPELINE_ENTRYPOINT"' pipeline-entrypoint SERVER [FLAG...]
# PIPELINE_FILES holds one "KIND VARIABLE PATH" line per file. A `file` is its variable's value
# plus a newline; a `secret` is its variable's value exactly, mode 0600. A `fill` line,
# "fill VARIABLE PATH SECRET PLACEHOLDER", is a file whose one PLACEHOLDER is replaced by the
# variable SECRET's value, byte for byte, mode 0600 (a URL Alertmanager 0.25 cannot read from a
# file); a value that is empty or holds whitespace, a quote or anything a URL does not is refused.
# Only shell builtins touch a value, and each variable is unset once written, so the server's
# own environment holds none of them.
set -eu

fail() {
  echo "pipeline-entrypoint: $*" >&2
  exit 78 # EX_CONFIG
}

while read -r kind variable path filler placeholder; do
  [ -n "$kind" ] || continue
  case $kind in
  file | secret) ;;
  fill)
    case $filler in
    *[!A-Za-z0-9_]* | [0-9]* | '') fail "'$filler' is not a variable name" ;;
    esac
    [ -n "$placeholder" ] || fail "the fill line for $variable names no placeholder"
    ;;
  *) fail "'$kind' is not file, secret or fill (line for $variable)" ;;
  esac
  case $variable in
  *[!A-Za-z0-9_]* | [0-9]* | '') fail "'$variable' is not a variable name" ;;
  esac
  case $path in
  /*) ;;
  *) fail "$variable: '$path' is not an absolute path" ;;
  esac
  eval "[ -n \"\${$variable+set}\" ]" || fail "$variable is not set (it holds $path)"
  value=""
  eval "value=\$$variable"
  mkdir -p "${path%/*}"
  if [ "$kind" = fill ]; then
    eval "[ -n \"\${$filler+set}\" ]" || fail "$filler is not set (it goes into $path)"
    secret=""
    eval "secret=\$$filler"
    # FILLED_CHARACTERS of monitoring/secrets.py
    case $secret in
    '' | *[!A-Za-z0-9._~:/?#@!\$\&\(\)*+,\;=%-]*)
      fail "$filler is empty or holds whitespace, a quote or a character a URL does not"
      ;;
    esac
    case $value in
    *?"$placeholder"*) ;;
    *) fail "$path has no placeholder '$placeholder' for $filler" ;;
    esac
    rm -f "$path"
    (
      umask 077
      printf '%s%s%s\n' "${value%%"$placeholder"*}" "$secret" "${value#*"$placeholder"}" >"$path"
    )
    echo "pipeline-entrypoint: wrote $path with $filler in place of its placeholder"
    unset "$filler" secret
  elif [ "$kind" = secret ]; then
    (
      umask 077
      printf '%s' "$value" >"$path"
    )
    echo "pipeline-entrypoint: wrote secret $path"
  else
    printf '%s\n' "$value" >"$path"
    echo "pipeline-entrypoint: wrote $path sha256 $(sha256sum <"$path" | cut -c1-64)"
  fi
  unset "$variable" value
done <<EOF
${PIPELINE_FILES-}
EOF

unset PIPELINE_FILES PIPELINE_ENTRYPOINT
[ "$#" -gt 0 ] || fail "no server to run"
echo "pipeline-entrypoint: exec $1"
exec "$@"

#!/usr/bin/env bash
# Make sure the admin-site end-to-end tests and benchmark have their system tools:
# Nginx (in front of gunicorn), Chromium + chromedriver (headless browser), wrk (load).
# Installs the missing ones with apt-get when root; otherwise those tests skip with a reason.
set -u
missing=()
[ -x /usr/sbin/nginx ] || command -v nginx >/dev/null 2>&1 || missing+=(nginx)
[ -x /usr/bin/chromium ] || missing+=(chromium)
[ -x /usr/bin/chromedriver ] || missing+=(chromium-driver)
command -v wrk >/dev/null 2>&1 || missing+=(wrk)
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ]; then
  echo "ensure-web-tools: missing ${missing[*]} and not root; browser/Nginx tests will skip" >&2; exit 0
fi
echo "ensure-web-tools: installing ${missing[*]}" >&2
DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null && \
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null \
  || echo "ensure-web-tools: apt-get failed; browser/Nginx tests will skip" >&2
# The distribution's nginx service is not needed (tests run their own on free ports).
exit 0

#!/usr/bin/env bash
# Make sure a MariaDB server answers on 127.0.0.1:3306 for the test suite:
# install it when missing, start it when stopped. Tests create and drop their own database.
set -u
ping() { mariadb-admin --protocol=tcp -h127.0.0.1 -P3306 -uroot ping >/dev/null 2>&1 \
  || mysqladmin --protocol=tcp -h127.0.0.1 -P3306 -uroot ping >/dev/null 2>&1; }
ping && exit 0
if [ ! -x /usr/sbin/mariadbd ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "ensure-mariadb: installing mariadb-server" >&2
    DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null && \
      DEBIAN_FRONTEND=noninteractive apt-get install -y -q mariadb-server mariadb-client >/dev/null
  else
    echo "ensure-mariadb: MariaDB missing and not root; MariaDB tests will skip" >&2; exit 0
  fi
fi
mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld 2>/dev/null
if [ ! -d /var/lib/mysql/mysql ]; then
  mariadb-install-db --user=mysql --datadir=/var/lib/mysql >/dev/null 2>&1 || true
fi
start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd -- --user=mysql 2>/dev/null \
  || start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd
for _ in $(seq 1 60); do ping && { echo "ensure-mariadb: MariaDB is up" >&2; exit 0; }; sleep 0.5; done
echo "ensure-mariadb: MariaDB did not come up; MariaDB tests will skip" >&2
exit 0

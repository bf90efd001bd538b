#!/usr/bin/env bash
# Apache Kafka's broker jars from Maven Central (Maven's dependency:copy-dependencies) into
# infra/kafka/lib, for infra/kafka/kafka.sh and the Kafka integration tests.
# Idempotent and cached: does nothing when the jars for the pom's version are present; Maven's
# own repository cache lives in infra/kafka/.m2 (both ignored by git). The first run takes minutes.
set -euo pipefail
cd "$(dirname "$0")/../kafka"
version="$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' pom.xml)"
if [ -f "lib/kafka_2.13-$version.jar" ] && [ -f "lib/kafka-server-$version.jar" ] && [ -f lib/.complete ]; then
  echo "20-kafka: Kafka $version jars present"
  exit 0
fi
command -v mvn >/dev/null || { echo "20-kafka: Maven (mvn) is required" >&2; exit 1; }
command -v java >/dev/null || { echo "20-kafka: Java 17+ is required" >&2; exit 1; }
rm -rf lib
mvn -q -B -Dmaven.repo.local="$PWD/.m2" dependency:copy-dependencies
touch lib/.complete
echo "20-kafka: Kafka $version jars in infra/kafka/lib ($(ls lib/*.jar | wc -l) jars)"

"""The deployment files parse and say what the service needs."""

import pathlib

import yaml

DEPLOY = pathlib.Path(__file__).resolve().parents[1]
ROOT = DEPLOY.parent


def test_compose_file():
    doc = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
    services = doc["services"]
    assert {"api", "worker", "postgres", "minio"} <= set(services)
    assert services["api"]["command"][:3] == ["serve", "--role", "api"]
    assert services["worker"]["command"][:3] == ["serve", "--role", "worker"]
    assert services["worker"]["deploy"]["replicas"] >= 2
    env = services["worker"]["environment"]
    assert env["DATABASE_URL"].startswith("postgres://")
    assert env["ANONLINK_OBJECT_STORE"].startswith("s3://")
    assert int(env["ANONLINK_CHUNK_COMPARISONS"]) > 0


def test_kubernetes_manifests():
    docs = [d for d in yaml.safe_load_all((DEPLOY / "kubernetes" / "anonlink.yaml").read_text()) if d]
    kinds = {(d["kind"], d["metadata"]["name"]) for d in docs}
    assert ("Deployment", "anonlink-api") in kinds and ("Deployment", "anonlink-worker") in kinds
    for d in docs:
        if d["kind"] == "Deployment":
            assert d["spec"]["replicas"] >= 1
            args = d["spec"]["template"]["spec"]["containers"][0]["args"]
            assert args[0] == "serve" and args[1] == "--role"


def test_dockerfile_is_multi_stage():
    text = (ROOT / "Dockerfile").read_text()
    assert text.count("FROM ") == 2
    assert "COPY --from=build" in text
    assert 'ENTRYPOINT ["anonlink"]' in text

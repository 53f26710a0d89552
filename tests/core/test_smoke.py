from app.core import heartbeat


def test_healthz_reports_database_redis_and_whether_a_worker_reports(client, redis_client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "redis": "ok", "worker": "silent"}
    heartbeat.beat()
    assert client.get("/healthz").json()["worker"] == "ok"
    assert 0 < redis_client.ttl(heartbeat.KEY) <= heartbeat.STALE_AFTER_S  # it lapses unless renewed

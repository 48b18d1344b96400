//! A `chancery check` killed with SIGKILL in the middle of a run leaves a
//! consistent database: every check is whole or absent, and the next run
//! carries on.

use std::time::{Duration, Instant};

use crate::support::{Behavior, Env, Route, Server, count};

#[test]
fn kill_during_check_leaves_a_consistent_database() {
    let server = Server::start();
    let mut watches = String::new();
    for i in 0..40 {
        let path = format!("/p{i}");
        let body = format!(
            "<html><body><h1>Statement {i}</h1><p>Text of statement number {i}.</p></body></html>"
        );
        let route = if i % 2 == 0 {
            Route::html(body)
        } else {
            // Slow pages keep the run going while the fast ones are written.
            Route::html(body).with_behavior(Behavior::Slow {
                gap: Duration::from_millis(40),
                bytes: 25,
            })
        };
        server.set(&path, route);
        watches.push_str(&format!(
            "[[watch]]\nname = \"p{i}\"\nurl = \"{}\"\n\n",
            server.url(&path)
        ));
    }
    let env = Env::new("concurrency = 4", &watches);
    let mut child = env.spawn(&["check"]);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let written =
            env.db_path().exists() && table_exists(&env) && count(&env.db_path(), "checks") >= 6;
        if written {
            break;
        }
        assert!(Instant::now() < deadline, "no checks written in 30 s");
        assert!(
            child.try_wait().expect("try_wait").is_none(),
            "check finished before it could be killed"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().expect("SIGKILL");
    let _ = child.wait();
    let written = count(&env.db_path(), "checks");
    assert!(written < 40, "the kill came mid-run ({written} checks)");
    assert_consistent(&env);

    // The next run picks up: every watch gets its check, none is duplicated
    // as a second baseline.
    let run = env.run(&["check"]).ok();
    assert_eq!(run.stdout.lines().count(), 40, "{run:?}");
    assert_eq!(count(&env.db_path(), "checks"), written + 40);
    assert_consistent(&env);
    let conn = rusqlite::Connection::open(env.db_path()).expect("open");
    let baselines: i64 = conn
        .query_row(
            "SELECT count(*) FROM changes WHERE kind = 'first-seen'",
            [],
            |r| r.get(0),
        )
        .expect("count");
    assert_eq!(baselines, 40, "one baseline per watch");
}

fn table_exists(env: &Env) -> bool {
    let conn = rusqlite::Connection::open(env.db_path()).expect("open");
    conn.query_row(
        "SELECT count(*) FROM sqlite_master WHERE name = 'checks'",
        [],
        |r| r.get::<_, i64>(0),
    )
    .map(|n| n == 1)
    .unwrap_or(false)
}

fn assert_consistent(env: &Env) {
    let conn = rusqlite::Connection::open(env.db_path()).expect("open");
    let integrity: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .expect("integrity");
    assert_eq!(integrity, "ok");
    let dangling = |sql: &str| -> i64 { conn.query_row(sql, [], |r| r.get(0)).expect(sql) };
    let orphans = [
        "SELECT count(*) FROM checks c WHERE c.snapshot_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM snapshots s WHERE s.id = c.snapshot_id)",
        "SELECT count(*) FROM snapshots s WHERE NOT EXISTS (SELECT 1 FROM texts t WHERE t.sha256 = s.text_sha256)",
        "SELECT count(*) FROM snapshots s WHERE s.raw_sha256 IS NOT NULL AND NOT EXISTS (SELECT 1 FROM bodies b WHERE b.sha256 = s.raw_sha256)",
        "SELECT count(*) FROM changes ch WHERE NOT EXISTS (SELECT 1 FROM checks c WHERE c.id = ch.check_id)",
        // Every check that recorded a change has its change row, and back.
        "SELECT count(*) FROM checks c WHERE c.outcome IN ('first-seen','edited','removed','restored') AND NOT EXISTS (SELECT 1 FROM changes ch WHERE ch.check_id = c.id)",
        "SELECT count(*) FROM watches w WHERE w.last_snapshot_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM snapshots s WHERE s.id = w.last_snapshot_id)",
        // A watch that has a snapshot knows it.
        "SELECT count(*) FROM watches w WHERE w.last_snapshot_id IS NULL AND EXISTS (SELECT 1 FROM snapshots s WHERE s.watch_id = w.id)",
    ];
    for sql in orphans {
        assert_eq!(dangling(sql), 0, "inconsistent: {sql}");
    }
    let fk: Vec<String> = conn
        .prepare("PRAGMA foreign_key_check")
        .expect("fk")
        .query_map([], |r| r.get::<_, String>(0))
        .expect("fk")
        .collect::<Result<_, _>>()
        .expect("fk");
    assert!(fk.is_empty(), "foreign key violations in {fk:?}");
}

//! The history in PostgreSQL (`[store] url`): the real binary against a
//! real server (`$CHANCERY_POSTGRES`, which `.ci/postgres` starts), each
//! test in a database of its own, looked at with `psql`. Without the
//! variable these tests are skipped with a notice, except under CI.

use std::process::Command;
use std::time::Duration;

use crate::seed::{SHORT, TITLE, page_en};
use crate::support::{Env, Route, Seen, Server, wait_until};

/// A database of its own on the test server, dropped afterwards.
struct Database {
    server: url::Url,
    password: String,
    name: String,
}

impl Database {
    fn create(test: &str) -> Option<Database> {
        let server = match std::env::var("CHANCERY_POSTGRES") {
            Ok(url) if !url.is_empty() => url,
            _ if std::env::var_os("CI").is_some() => {
                panic!("CHANCERY_POSTGRES is not set: under CI the PostgreSQL tests must run")
            }
            _ => {
                eprintln!(
                    "NOTICE: skipping {test}: set CHANCERY_POSTGRES (eval \"$(bash .ci/postgres)\")"
                );
                return None;
            }
        };
        let db = Database {
            server: url::Url::parse(&server).expect("CHANCERY_POSTGRES is a URL"),
            password: std::env::var("CHANCERY_POSTGRES_PASSWORD").unwrap_or_default(),
            name: format!("chancery_it_{}_{test}", std::process::id()),
        };
        db.psql_on(
            db.server.as_str(),
            &format!("DROP DATABASE IF EXISTS {}", db.name),
        );
        db.psql_on(db.server.as_str(), &format!("CREATE DATABASE {}", db.name));
        Some(db)
    }

    fn url(&self) -> String {
        let mut url = self.server.clone();
        url.set_path(&self.name);
        url.to_string()
    }

    /// The `[store]` table for this database, its password from the
    /// environment ([`Database::vars`]).
    fn store_toml(&self) -> String {
        format!(
            "[store]\nurl = \"{}\"\npassword_env = \"CHANCERY_STORE_PASSWORD\"\n",
            self.url()
        )
    }

    fn vars(&self) -> [(&str, &str); 1] {
        [("CHANCERY_STORE_PASSWORD", self.password.as_str())]
    }

    /// One value `sql` selects from this test's database, as psql prints it.
    fn psql(&self, sql: &str) -> String {
        self.psql_on(&self.url(), sql)
    }

    /// Like [`Database::psql`], `None` when the query fails (the tables
    /// not made yet).
    fn try_psql(&self, sql: &str) -> Option<String> {
        let out = Command::new("psql")
            .args([
                "-X",
                "-A",
                "-t",
                "-v",
                "ON_ERROR_STOP=1",
                &self.url(),
                "-c",
                sql,
            ])
            .env("PGPASSWORD", &self.password)
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
    }

    fn psql_on(&self, url: &str, sql: &str) -> String {
        let out = Command::new("psql")
            .args(["-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", url, "-c", sql])
            .env("PGPASSWORD", &self.password)
            .output()
            .expect("psql runs (Debian's postgresql-client, which .ci/postgres installs)");
        assert!(
            out.status.success(),
            "psql {sql}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            self.psql_on(
                self.server.as_str(),
                &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
            );
        }
    }
}

fn statement(paragraphs: &[&str], counter: u32) -> Route {
    Route::html(page_en(TITLE, paragraphs, counter))
}

/// What a reader of the README does with a `[store]` config: check,
/// edit, check, and read the history, the diff and a snapshot back, all
/// from PostgreSQL; nothing is written to a SQLite file.
#[test]
fn a_statement_history_lives_in_postgres_and_reads_back_through_the_cli() {
    let Some(db) = Database::create("history") else {
        return;
    };
    let server = Server::start();
    server.set("/statement", statement(&SHORT[..3], 1));
    let watches = format!(
        "[[watch]]\nname = \"embassy\"\nurl = \"{}\"\n\n{}",
        server.url("/statement"),
        db.store_toml()
    );
    let env = Env::new("per_host_delay = \"0s\"", &watches);
    let vars = db.vars();
    let first = env.run_with_env(&["check"], &vars).ok();
    assert!(
        first.line_for("embassy").contains("first-seen"),
        "{first:?}"
    );

    // The visit counter moves: not a change.
    server.set("/statement", statement(&SHORT[..3], 2));
    let same = env.run_with_env(&["check"], &vars).ok();
    assert!(same.line_for("embassy").contains("unchanged"), "{same:?}");

    // A paragraph is rewritten quietly.
    let edited = SHORT[1].replace("stop interfering", "refrain from interfering");
    server.set(
        "/statement",
        statement(&[SHORT[0], edited.as_str(), SHORT[2]], 3),
    );
    let edit = env.run_with_env(&["check"], &vars).ok();
    assert!(edit.line_for("embassy").contains("edited"), "{edit:?}");

    let list = env.run_with_env(&["list", "--json"], &vars).ok().json();
    assert_eq!(list[0]["name"], "embassy", "{list:#}");
    assert_eq!(list[0]["n_changes"], 1, "{list:#}");
    assert_eq!(list[0]["n_checks"], 3, "{list:#}");
    let history = env
        .run_with_env(&["history", "embassy", "--json"], &vars)
        .ok()
        .json();
    assert_eq!(
        history["snapshots"].as_array().map(Vec::len),
        Some(2),
        "{history:#}"
    );
    let diff = env
        .run_with_env(&["diff", "embassy", "--color", "never"], &vars)
        .ok();
    assert!(
        diff.stdout.contains(&format!("+{edited}"))
            && diff.stdout.contains(&format!("-{}", SHORT[1])),
        "{diff:?}"
    );
    let show = env.run_with_env(&["show", "embassy"], &vars).ok();
    assert!(show.stdout.contains(&edited), "{show:?}");
    assert!(!show.stdout.contains(SHORT[1]), "the latest text: {show:?}");

    // Everything is in PostgreSQL, nothing in the state dir's SQLite file.
    assert_eq!(db.psql("SELECT count(*) FROM checks"), "3");
    assert_eq!(db.psql("SELECT count(*) FROM snapshots"), "2");
    assert_eq!(
        db.psql("SELECT string_agg(kind, ',' ORDER BY id) FROM changes"),
        "first-seen,edited"
    );
    assert!(!env.db_path().exists(), "no SQLite history was made");

    // The web view reads it too, through read-only transactions.
    let (_view, base) = crate::web::serve(&env, &vars);
    let page = crate::web::get(&base, "/w/embassy/snapshots/2", None);
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(
        page.body.contains("refrain from interfering"),
        "{}",
        page.body
    );
    let feed = crate::web::get(&base, "/feed.atom", None);
    assert_eq!(feed.status, 200);
    assert!(feed.body.contains("<entry>"), "{}", feed.body);

    // `backup` copies SQLite files; here it says what to use instead.
    let backup = env.run_with_env(&["backup", "copy.db"], &vars);
    assert_ne!(backup.code, 0, "{backup:?}");
    assert!(backup.stderr.contains("pg_dump"), "{backup:?}");
}

fn posts(server: &Server) -> Vec<Seen> {
    server.posts("/hook")
}

/// The daemon on PostgreSQL: an edit is recorded and its alert delivered
/// once, and a SIGKILL once it is recorded, and a restart, neither lose
/// nor repeat it.
#[test]
fn the_daemon_on_postgres_delivers_an_edit_once_across_a_kill() {
    let Some(db) = Database::create("daemon") else {
        return;
    };
    let server = Server::start();
    server.set("/statement", statement(&SHORT[..2], 1));
    server.set("/hook", Route::status(204, ""));
    let rest = format!(
        "[[watch]]\nname = \"embassy\"\nurl = \"{}\"\ninterval = \"1s\"\nnotify = [\"hook\"]\n\n\
         [[subscriber]]\nname = \"hook\"\nwebhook = \"{}\"\n\n{}",
        server.url("/statement"),
        server.url("/hook"),
        db.store_toml()
    );
    let env = Env::new("per_host_delay = \"0s\"\nalert_retry = \"1s\"", &rest);
    let vars = db.vars();
    let mut daemon = env.daemon_with_env("run", &vars);
    daemon.wait_log("outcome=first-seen", Duration::from_secs(20));

    let edited = SHORT[1].replace("will only hurt", "can only hurt");
    server.set("/statement", statement(&[SHORT[0], edited.as_str()], 2));
    assert!(
        wait_until(Duration::from_secs(20), || posts(&server).len() == 1),
        "delivered: {}",
        daemon.log()
    );
    // Killed once the delivery is recorded. A kill between the receiver's
    // answer and that write is the documented at-least-once case (the
    // alert is sent again, same delivery id), which notify.rs tests; here
    // the restart must neither repeat a recorded delivery nor lose it.
    assert!(
        wait_until(Duration::from_secs(20), || db
            .psql("SELECT status FROM alerts")
            == "delivered"),
        "recorded: {}",
        daemon.log()
    );
    daemon.signal("KILL");
    daemon.wait_exit(Duration::from_secs(10)).expect("killed");

    let restarted = env.daemon_with_env("run-again", &vars);
    restarted.wait_log("chancery started", Duration::from_secs(20));
    // A few checks after the restart: the page has not changed again.
    assert!(wait_until(Duration::from_secs(20), || {
        db.psql("SELECT count(*) FROM checks")
            .parse::<u32>()
            .unwrap_or(0)
            >= 6
    }));
    let got = posts(&server);
    assert_eq!(got.len(), 1, "one delivery: {}", restarted.log());
    let id = &got[0].headers["x-chancery-delivery"];
    assert_eq!(
        db.psql("SELECT id || ' ' || status || ' ' || attempts FROM alerts"),
        format!("{id} delivered 1")
    );
    assert_eq!(
        db.psql("SELECT count(*) FROM changes WHERE kind = 'edited'"),
        "1",
        "the edit is recorded once"
    );
}

/// A password never sits in the TOML, and never reaches the terminal:
/// neither the one refused in a URL nor a wrong one the server rejects.
#[test]
fn store_passwords_stay_out_of_the_config_and_of_every_message() {
    let in_url = "postgres://chancery:hunter2-in-url@127.0.0.1:1/chancery";
    let env = Env::new(
        "",
        &format!(
            "[[watch]]\nname = \"a\"\nurl = \"http://127.0.0.1:1/\"\n\n[store]\nurl = \"{in_url}\"\n"
        ),
    );
    let run = env.run(&["config", "check"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr.contains("chancery.toml") && run.stderr.contains("store.url"),
        "names the file and key: {run:?}"
    );
    assert!(run.stderr.contains("password_env"), "{run:?}");
    assert!(!run.stderr.contains("hunter2"), "{run:?}");

    let Some(db) = Database::create("password") else {
        return;
    };
    let watches = format!(
        "[[watch]]\nname = \"a\"\nurl = \"http://127.0.0.1:1/\"\n\n{}",
        db.store_toml()
    );
    let env = Env::new("", &watches);
    let wrong = "wrong-password-do-not-print";
    let run = env.run_with_env(&["list"], &[("CHANCERY_STORE_PASSWORD", wrong)]);
    assert_ne!(run.code, 0, "{run:?}");
    assert!(
        run.stderr
            .contains(&format!("cannot open history {}", db.url())),
        "names the database: {run:?}"
    );
    assert!(
        run.stderr.contains("password authentication failed"),
        "says why: {run:?}"
    );
    assert!(!run.stderr.contains(wrong), "{run:?}");
    let unset = env.run(&["list"]);
    assert_eq!(unset.code, 2, "{unset:?}");
    assert!(
        unset.stderr.contains("CHANCERY_STORE_PASSWORD is not set"),
        "{unset:?}"
    );
}

/// A history moved from the state dir's SQLite file into PostgreSQL and
/// back with `store copy`: the CLI reads the same history from each, and
/// the daemon's next check goes on from it.
#[test]
fn store_copy_moves_a_history_to_postgres_and_back() {
    let Some(db) = Database::create("copy") else {
        return;
    };
    let server = Server::start();
    server.set("/statement", statement(&SHORT[..3], 1));
    let watch = format!(
        "[[watch]]\nname = \"embassy\"\nurl = \"{}\"\n",
        server.url("/statement")
    );
    let env = Env::new("per_host_delay = \"0s\"", &watch);
    env.run(&["check"]).ok();
    let edited = SHORT[2].replace("no foreign country", "no country");
    server.set(
        "/statement",
        statement(&[SHORT[0], SHORT[1], edited.as_str()], 2),
    );
    env.run(&["check"]).ok();
    let before = env
        .run(&["history", "embassy", "--json", "--checks", "10"])
        .ok();

    let vars = [("PGPASSWORD", db.password.as_str())];
    let url = db.url();
    let copied = env
        .run_with_env(
            &["store", "copy", "--from", "state", "--to", &url, "--json"],
            &vars,
        )
        .ok()
        .json();
    assert_eq!(copied["rows_already_there"], 0, "{copied:#}");
    assert_eq!(copied["blobs_verified"], 4, "{copied:#}");
    let again = env
        .run_with_env(&["store", "copy", "--from", "state", "--to", &url], &vars)
        .ok();
    assert!(again.stdout.contains("0 rows written"), "{again:?}");

    // The same config with [store]: the same history, read from PostgreSQL.
    let pg = Env::new(
        "per_host_delay = \"0s\"",
        &format!("{watch}\n{}", db.store_toml()),
    );
    let store_vars = db.vars();
    let after = pg
        .run_with_env(
            &["history", "embassy", "--json", "--checks", "10"],
            &store_vars,
        )
        .ok();
    assert_eq!(after.stdout, before.stdout);
    let check = pg.run_with_env(&["check"], &store_vars).ok();
    assert!(check.line_for("embassy").contains("unchanged"), "{check:?}");
    assert_eq!(db.psql("SELECT count(*) FROM checks"), "3");

    // And back into a new SQLite file, which reads the same again.
    let back = env.dir.path().join("back.db");
    env.run_with_env(
        &[
            "store",
            "copy",
            "--from",
            &url,
            "--to",
            back.to_str().unwrap(),
        ],
        &vars,
    )
    .ok();
    assert_eq!(crate::support::count(&back, "checks"), 3);

    let refused = env.run(&[
        "store",
        "copy",
        "--from",
        "state",
        "--to",
        "postgres://u:pw@127.0.0.1:1/x",
    ]);
    assert_eq!(refused.code, 2, "{refused:?}");
    assert!(refused.stderr.contains("PGPASSWORD"), "{refused:?}");
}

/// The check rows of every watch: (watch, started_at ms), oldest first.
fn check_times(db: &Database) -> Vec<(String, i64)> {
    db.psql(
        "SELECT w.name || ' ' || k.started_at FROM checks k JOIN watches w ON w.id = k.watch_id
         ORDER BY w.name, k.started_at",
    )
    .lines()
    .filter_map(|l| {
        let (name, at) = l.split_once(' ')?;
        Some((name.to_owned(), at.parse().ok()?))
    })
    .collect()
}

/// A small xorshift generator: the test's random edits, repeatable from
/// the seed its messages print.
struct Random(u64);

impl Random {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

/// Three daemons on one database share the checking of 300 watches whose
/// pages change at random throughout: each watch is checked about once
/// per interval, not once per node; a node killed with SIGKILL mid-run
/// has its watches taken over within the interval plus the lease; a node
/// started later joins; every edit is recorded exactly once and every
/// alert delivered once, with one delivery id; the site never sees more
/// requests at once than its per-host limit.
#[test]
fn nodes_on_one_database_share_the_checks_and_take_over_a_dead_one() {
    let Some(db) = Database::create("nodes") else {
        return;
    };
    const WATCHES: usize = 300;
    const INTERVAL_MS: i64 = 5_000;
    const LEASE_MS: i64 = 3_000;
    const PER_HOST: usize = 4;
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    let mut random = Random(seed);
    let site = Server::start();
    let hooks = Server::start();
    hooks.set("/hook", Route::status(204, ""));
    let mut pages: Vec<Vec<String>> = (0..WATCHES)
        .map(|i| {
            vec![
                format!("Statement {i}: {}", SHORT[i % 4]),
                SHORT[(i + 1) % 4].to_owned(),
            ]
        })
        .collect();
    let publish = |i: usize, paragraphs: &[String], counter: u32| {
        let refs: Vec<&str> = paragraphs.iter().map(String::as_str).collect();
        site.set(&format!("/s/{i}"), statement(&refs, counter));
    };
    for (i, paragraphs) in pages.iter().enumerate() {
        publish(i, paragraphs, 1);
    }
    let mut config = String::new();
    for i in 0..WATCHES {
        config += &format!(
            "[[watch]]\nname = \"s{i:03}\"\nurl = \"{}\"\ninterval = \"{}ms\"\nnotify = [\"hook\"]\n\n",
            site.url(&format!("/s/{i}")),
            INTERVAL_MS
        );
    }
    config += &format!(
        "[[subscriber]]\nname = \"hook\"\nwebhook = \"{}\"\n\n{}lease = \"{LEASE_MS}ms\"\n",
        hooks.url("/hook"),
        db.store_toml()
    );
    let daemon =
        format!("per_host_delay = \"0s\"\nper_host_concurrency = {PER_HOST}\nalert_retry = \"1s\"");
    let nodes: Vec<Env> = (0..4).map(|_| Env::new(&daemon, &config)).collect();
    let vars = db.vars();
    let mut running: Vec<_> = nodes[..3]
        .iter()
        .enumerate()
        .map(|(i, env)| env.daemon_with_env(&format!("node{i}"), &vars))
        .collect();
    let first_seen = || {
        db.try_psql("SELECT count(*) FROM changes WHERE kind = 'first-seen'")
            .and_then(|n| n.parse::<usize>().ok())
            .unwrap_or(0)
    };
    assert!(
        wait_until(Duration::from_secs(60), || first_seen() == WATCHES),
        "every watch seen: {} of {WATCHES}\n{}",
        first_seen(),
        running[0].log()
    );
    let start = db
        .psql("SELECT max(started_at) FROM checks")
        .parse::<i64>()
        .unwrap();

    // Edits at random throughout, 4 a second for 18 s: while all three
    // run, after one is killed (at 6 s), and after a fourth joins (at
    // 12 s). A page is edited again only after its worst wait, so every
    // edit can be seen, and counted, once.
    let quiet = Duration::from_millis((INTERVAL_MS * 11 / 10 + LEASE_MS + 4_000) as u64);
    let mut last_edit: Vec<Option<std::time::Instant>> = vec![None; WATCHES];
    let began = std::time::Instant::now();
    let mut edits = 0u32;
    let mut killed_at = None;
    for tick in 0..72 {
        std::thread::sleep(Duration::from_millis(250));
        let i = loop {
            let i = random.below(WATCHES);
            if last_edit[i].is_none_or(|t| t.elapsed() > quiet) {
                break i;
            }
        };
        pages[i][1] = format!("{} (revised {edits})", pages[i][1]);
        publish(i, &pages[i], 2 + edits);
        last_edit[i] = Some(std::time::Instant::now());
        edits += 1;
        if tick == 24 {
            running[0].signal("KILL");
            running[0]
                .wait_exit(Duration::from_secs(10))
                .expect("killed");
            killed_at = Some(chancery::model::Timestamp::now());
        }
        if tick == 48 {
            running.push(nodes[3].daemon_with_env("node3", &vars));
        }
    }
    let edited = || {
        db.psql("SELECT count(*) FROM changes WHERE kind = 'edited'")
            .parse::<u32>()
            .unwrap_or(0)
    };
    let delivered = || hooks.posts("/hook").len() as u32;
    assert!(
        wait_until(Duration::from_secs(60), || edited() >= edits
            && delivered() >= edits),
        "seed {seed}: {edits} edits in {:?}; {} recorded, {} delivered\n{}",
        began.elapsed(),
        edited(),
        delivered(),
        running[1].log()
    );
    std::thread::sleep(Duration::from_secs(4));
    let end = db
        .psql("SELECT max(started_at) FROM checks")
        .parse::<i64>()
        .unwrap();

    // Every edit once, every alert once, one id each.
    assert_eq!(edited(), edits, "seed {seed}: each edit recorded once");
    let got = hooks.posts("/hook");
    let mut ids: Vec<&str> = got
        .iter()
        .map(|p| p.headers["x-chancery-delivery"].as_str())
        .collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(
        (got.len(), ids.len()),
        (edits as usize, edits as usize),
        "seed {seed}: one delivery per alert"
    );
    assert_eq!(
        db.psql("SELECT count(*) FROM alerts WHERE status = 'delivered' AND attempts = 1"),
        edits.to_string()
    );

    // Shared, not tripled: over the window each watch was checked about
    // once per interval (jitter ±10%), whichever node did it.
    let times = check_times(&db);
    let window = (end - start) as f64 / 1000.0;
    let in_window = times
        .iter()
        .filter(|(_, t)| *t >= start && *t <= end)
        .count() as f64;
    let per_watch = in_window / WATCHES as f64;
    let intervals = window * 1000.0 / INTERVAL_MS as f64;
    assert!(
        per_watch <= intervals * 1.5 + 1.0,
        "{per_watch:.1} checks per watch in {window:.0} s: more than one node checks each"
    );
    assert!(
        per_watch >= intervals * 0.6,
        "{per_watch:.1} checks per watch in {window:.0} s"
    );
    // No watch waits longer than its interval (with jitter) plus the
    // lease, plus two seconds of scheduling on a busy test machine, also
    // across the kill.
    let mut worst = (String::new(), 0);
    for pair in times.windows(2) {
        let ((a, t0), (b, t1)) = (&pair[0], &pair[1]);
        if a == b && *t0 >= start && t1 - t0 > worst.1 {
            worst = (a.clone(), t1 - t0);
        }
    }
    let killed_at = killed_at.expect("a node was killed");
    assert!(
        worst.1 <= INTERVAL_MS * 11 / 10 + LEASE_MS + 2_000,
        "{} went {} ms unchecked (killed at {killed_at})",
        worst.0,
        worst.1
    );
    // One not-found probe of the site, whichever node needed it first;
    // the others read its answer from the database.
    let probes = site
        .all_requests()
        .iter()
        .filter(|r| r.path.contains("chancery-not-found-probe"))
        .count();
    assert_eq!(
        probes, 1,
        "the nodes probed the site's not-found page {probes} times"
    );
    // The site's limit held for the nodes together.
    assert!(
        site.max_concurrent() <= PER_HOST,
        "{} requests at once to one host allowed {PER_HOST}",
        site.max_concurrent()
    );
    eprintln!(
        "nodes (seed {seed}): {edits} edits; {per_watch:.1} checks per watch in {window:.0} s; longest wait {} ms ({}); at most {} requests at once",
        worst.1,
        worst.0,
        site.max_concurrent()
    );
}

/// `status` lists the nodes sharing the database, and says (exit 1) when
/// the live ones run different configs.
#[test]
fn status_lists_the_nodes_and_warns_when_they_disagree() {
    let Some(db) = Database::create("status") else {
        return;
    };
    let server = Server::start();
    server.set("/a", statement(&SHORT[..2], 1));
    server.set("/b", statement(&SHORT[1..3], 1));
    let watch = |name: &str, path: &str| {
        format!(
            "[[watch]]\nname = \"{name}\"\nurl = \"{}\"\ninterval = \"1m\"\n\n",
            server.url(path)
        )
    };
    let config = format!("{}{}", watch("a", "/a"), db.store_toml());
    let daemon = "per_host_delay = \"0s\"";
    let (one, two) = (Env::new(daemon, &config), Env::new(daemon, &config));
    let vars = db.vars();
    let first = one.daemon_with_env("one", &vars);
    let second = two.daemon_with_env("two", &vars);
    let nodes = |env: &Env| env.run_with_env(&["status", "--json"], &vars).json();
    let live = |status: &serde_json::Value| {
        status["nodes"]
            .as_array()
            .map_or(0, |n| n.iter().filter(|n| n["state"] == "live").count())
    };
    assert!(
        wait_until(Duration::from_secs(20), || live(&nodes(&one)) == 2),
        "two live nodes: {}",
        nodes(&one)
    );
    let status = one.run_with_env(&["status"], &vars).ok();
    assert!(status.stdout.contains("nodes: 2 live"), "{status:?}");
    assert_eq!(nodes(&one)["nodes_agree"], true);

    // The second node is given another watch list and reloads.
    two.write_config(daemon, &format!("{}{config}", watch("b", "/b")));
    second.signal("HUP");
    assert!(
        wait_until(Duration::from_secs(20), || nodes(&one)["nodes_agree"]
            == false),
        "{}",
        nodes(&one)
    );
    let warned = one.run_with_env(&["status"], &vars);
    assert_eq!(warned.code, 1, "{warned:?}");
    assert!(
        warned.stdout.contains("WARNING: the live nodes disagree"),
        "{warned:?}"
    );

    // A node that stops says so.
    first.signal("TERM");
    assert!(
        wait_until(Duration::from_secs(20), || {
            nodes(&two)["nodes"]
                .as_array()
                .is_some_and(|n| n.iter().any(|n| n["state"] == "stopped"))
        }),
        "{}",
        nodes(&two)
    );
    drop(second);
}

/// Per-host politeness holds for the nodes together: three daemons, each
/// allowed two requests at a time to the one test host, never have more
/// than two in flight there between them.
#[test]
fn nodes_on_one_database_share_each_hosts_limits() {
    let Some(db) = Database::create("politeness") else {
        return;
    };
    let server = Server::start();
    let mut config = String::new();
    for i in 0..12 {
        let path = format!("/slow/{i}");
        // Each answer takes about 300 ms: overlaps are seen.
        server.set(
            &path,
            Route::html(String::new()).with_behavior(crate::support::Behavior::Slow {
                gap: Duration::from_millis(20),
                bytes: 15,
            }),
        );
        config += &format!(
            "[[watch]]\nname = \"slow{i}\"\nurl = \"{}\"\ninterval = \"1s\"\n\n",
            server.url(&path)
        );
    }
    config += &db.store_toml();
    let daemon = "per_host_delay = \"0s\"\nper_host_concurrency = 2\nconcurrency = 8";
    let vars = db.vars();
    let nodes: Vec<Env> = (0..3).map(|_| Env::new(daemon, &config)).collect();
    let _running: Vec<_> = nodes
        .iter()
        .enumerate()
        .map(|(i, env)| env.daemon_with_env(&format!("node{i}"), &vars))
        .collect();
    assert!(
        wait_until(Duration::from_secs(40), || server.all_requests().len()
            >= 40),
        "checked: {} requests",
        server.all_requests().len()
    );
    assert!(
        server.max_concurrent() <= 2,
        "{} requests at once to one host from three nodes allowed two",
        server.max_concurrent()
    );
    assert_eq!(server.max_concurrent(), 2, "the two slots are used");
}

/// A follow watch's listing is checked by one node; the other, refused,
/// reads the children it found from the database and shares their checks
/// instead of leaving them to the node that found them.
#[test]
fn nodes_share_the_children_a_listing_names() {
    let Some(db) = Database::create("children") else {
        return;
    };
    let server = Server::start();
    let page = |n: u32| {
        Route::html(format!(
            "<html><head><title>Statement {n}</title></head><body><h1>Statement {n}</h1>\
             <p>Paragraph one of statement number {n}, on the policy of the day.</p></body></html>"
        ))
    };
    for n in 1..=3 {
        server.set(&format!("/press/s{n}.html"), page(n));
    }
    server.set(
        "/press/",
        Route::html(
            "<html><body><ul class=\"list\"><li><a href=\"/press/s3.html\">Three</a></li>\
             <li><a href=\"/press/s2.html\">Two</a></li><li><a href=\"/press/s1.html\">One</a></li>\
             </ul></body></html>",
        ),
    );
    // After a listing check, only the node that made it knows the
    // children, for an interval at least, unless the other reads them.
    let config = format!(
        "[[watch]]\nname = \"press\"\nurl = \"{}\"\ninterval = \"8s\"\nfollow = {{ links = \"ul.list a\" }}\n\n{}lease = \"3s\"\n",
        server.url("/press/"),
        db.store_toml()
    );
    let vars = db.vars();
    let nodes: Vec<Env> = (0..2)
        .map(|_| Env::new("per_host_delay = \"0s\"", &config))
        .collect();
    let running: Vec<_> = nodes
        .iter()
        .enumerate()
        .map(|(i, env)| env.daemon_with_env(&format!("node{i}"), &vars))
        .collect();
    let adopted = || {
        running
            .iter()
            .any(|d| d.log().contains("took up the children another node found"))
    };
    assert!(
        wait_until(Duration::from_secs(20), adopted),
        "neither node took up the other's children:\n{}\n{}",
        running[0].log(),
        running[1].log()
    );
    // Every child checked; the listing and each child by one node per
    // interval: no two checks of one watch within half an interval.
    assert_eq!(db.psql("SELECT count(*) FROM children"), "3");
    assert!(
        wait_until(Duration::from_secs(10), || {
            db.psql(
                "SELECT count(DISTINCT k.watch_id) FROM checks k JOIN children c ON c.watch_id = k.watch_id",
            ) == "3"
        }),
        "every child checked"
    );
    let times = check_times(&db);
    for pair in times.windows(2) {
        let ((a, t0), (b, t1)) = (&pair[0], &pair[1]);
        assert!(
            a != b || t1 - t0 >= 4_000,
            "{a} checked twice within {} ms: {times:?}",
            t1 - t0
        );
    }
}

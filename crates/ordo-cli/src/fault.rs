//! `ordo fault`: add, list, renew and remove faults on running proxies
//! through their admin APIs, and halt them all.
//!
//! Every subcommand talks to each proxy given with `--admin` (or listed in
//! `ORDO_ADMIN`, comma-separated), concurrently, each within `--timeout-ms`;
//! it exits 1 if any proxy failed, after reporting on all of them.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Subcommand, ValueEnum};
use http::{Method, StatusCode};
use ordo_config::Duration as Span;
use ordo_config::fault::{AbortSpec, BandwidthSpec, DelaySpec, FaultMatch, FaultPer, FaultSpec};
use ordo_config::proxy::HeaderMatch;

use crate::admin_client::{AdminClient, Answer};

/// Inject failure into running proxies: add faults scoped to a route, a
/// dependency, an endpoint, a FIT scenario (the `x-ordo-fit` header) or
/// headers; list them; remove them; halt them all. Reference:
/// docs/fault-injection.md.
#[derive(Debug, Args)]
pub(crate) struct FaultArgs {
    /// A proxy's admin address (`host:port`); repeat for several. Default:
    /// the comma-separated list in ORDO_ADMIN.
    #[arg(long = "admin", value_name = "ADDR", global = true)]
    admins: Vec<String>,
    /// Give up on a proxy that has not answered within this many
    /// milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 1000, global = true,
          value_parser = clap::value_parser!(u64).range(1..=600_000))]
    timeout_ms: u64,
    #[command(subcommand)]
    command: FaultCommand,
}

#[derive(Debug, Subcommand)]
enum FaultCommand {
    /// Add a fault to every proxy (from flags, or a YAML/JSON spec file).
    Add(Box<AddArgs>),
    /// List the active faults of every proxy.
    List {
        /// Print the API's JSON, one array per proxy.
        #[arg(long)]
        json: bool,
    },
    /// Remove a fault from every proxy.
    Rm {
        /// The fault's id.
        id: String,
    },
    /// Renew a fault's lease on every proxy.
    Renew {
        /// The fault's id.
        id: String,
    },
    /// Remove every fault (and every toxic) from every proxy at once.
    Halt,
    /// Toxics on the TCP proxies (databases, caches): add, list, remove.
    #[command(subcommand)]
    Toxic(ToxicCommand),
}

#[derive(Debug, Subcommand)]
enum ToxicCommand {
    /// Add a toxic to a TCP proxy on every proxy.
    Add {
        /// The TCP proxy's name.
        proxy: String,
        /// latency, bandwidth, slow_close, timeout, reset_peer, slicer or
        /// limit_data.
        #[arg(long = "type", value_name = "TYPE")]
        kind: String,
        /// The toxic's name [default: TYPE_STREAM].
        #[arg(long)]
        name: Option<String>,
        /// upstream (client to server) or downstream (server to client).
        #[arg(long, default_value = "downstream")]
        stream: String,
        /// The share of connections it applies to, 0 to 1.
        #[arg(long, default_value_t = 1.0)]
        toxicity: f64,
        /// A setting of the toxic (`latency=1000`); repeatable. See
        /// docs/fault-injection.md for each type's.
        #[arg(long = "attr", value_name = "NAME=VALUE", value_parser = attribute)]
        attributes: Vec<(String, i64)>,
    },
    /// Remove a toxic from a TCP proxy on every proxy.
    Rm {
        /// The TCP proxy's name.
        proxy: String,
        /// The toxic's name.
        name: String,
    },
    /// List every TCP proxy and its toxics on every proxy.
    List,
}

fn attribute(s: &str) -> Result<(String, i64), String> {
    let (k, v) = s
        .split_once('=')
        .ok_or_else(|| format!("`{s}`: write NAME=VALUE, e.g. latency=1000"))?;
    let v = v
        .trim()
        .parse()
        .map_err(|_| format!("`{v}` is not a whole number"))?;
    Ok((k.trim().to_owned(), v))
}

/// What to inject where. Give at least one of `--delay`, an abort
/// (`--abort`, `--reset`, `--grpc`, `--hang`) and `--bandwidth`.
#[derive(Debug, Args)]
struct AddArgs {
    /// Read the fault spec from this YAML or JSON file instead of flags.
    /// (`--id`, `--ttl` and `--lease` may still override the file's.)
    #[arg(long, value_name = "FILE", conflicts_with_all = [
        "route", "cluster", "endpoint", "scenario", "headers", "percent", "delay", "abort",
        "reset", "hang", "grpc", "bandwidth", "per", "record", "max_active",
    ])]
    spec: Option<PathBuf>,
    /// The fault's id [default: one made up by the proxy].
    #[arg(long)]
    id: Option<String>,
    /// Only requests taken by this route.
    #[arg(long)]
    route: Option<String>,
    /// Only requests to this cluster (a dependency).
    #[arg(long)]
    cluster: Option<String>,
    /// Only attempts to this endpoint (`host:port`) of `--cluster`.
    #[arg(long, requires = "cluster")]
    endpoint: Option<String>,
    /// Only requests carrying this FIT scenario in `x-ordo-fit`.
    #[arg(long)]
    scenario: Option<String>,
    /// Only requests with this header value (`NAME=VALUE`); repeatable.
    #[arg(long = "header", value_name = "NAME=VALUE", value_parser = header_match)]
    headers: Vec<HeaderMatch>,
    /// The share of matching requests faulted, 0 to 100.
    #[arg(long, default_value_t = 100.0)]
    percent: f64,
    /// Delay: `200ms`, `uniform:100ms..300ms`, `normal:200ms~50ms`,
    /// `lognormal:200ms~0.5` (median and sigma).
    #[arg(long, value_parser = delay_spec)]
    delay: Option<DelaySpec>,
    /// Answer with this HTTP status instead of the upstream.
    #[arg(long, value_name = "STATUS", value_parser = clap::value_parser!(u16).range(200..=599))]
    abort: Option<u16>,
    /// The body of the `--abort` answer.
    #[arg(long, requires = "abort")]
    body: Option<String>,
    /// Break the connection instead of answering.
    #[arg(long, conflicts_with_all = ["abort", "grpc", "hang"])]
    reset: bool,
    /// Answer with this gRPC status (1 to 16), trailers-only.
    #[arg(long, value_name = "CODE", value_parser = clap::value_parser!(u16).range(1..=16), conflicts_with_all = ["abort", "hang"])]
    grpc: Option<u16>,
    /// The `grpc-message` of the `--grpc` answer.
    #[arg(long, requires = "grpc")]
    grpc_message: Option<String>,
    /// Never answer (until the request's timeout or the client gives up).
    #[arg(long, conflicts_with = "abort")]
    hang: bool,
    /// Slow response bodies to this many bytes per second.
    #[arg(long, value_name = "BYTES_PER_SEC", value_parser = clap::value_parser!(u64).range(1..))]
    bandwidth: Option<u64>,
    /// Decide once per request, or for each attempt (retries may then
    /// route around the fault).
    #[arg(long, value_enum, default_value_t = Per::Request)]
    per: Per,
    /// Whether injected failures count in shared state (circuit breakers,
    /// outlier detection) [default: yes, no for a `--scenario` fault].
    #[arg(long, value_name = "BOOL")]
    record: Option<bool>,
    /// Most requests faulted at once [default: the proxy's limit].
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    max_active: Option<u32>,
    /// Remove the fault after this long [default: the proxy's default].
    #[arg(long, value_name = "DURATION")]
    ttl: Option<Span>,
    /// Make the fault a lease of this length: this command stays, renews
    /// it until interrupted, then removes it; if the command dies, the
    /// proxies revert the fault by themselves once the lease lapses.
    #[arg(long, value_name = "DURATION")]
    lease: Option<Span>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Per {
    Request,
    Attempt,
}

fn header_match(s: &str) -> Result<HeaderMatch, String> {
    let (name, value) = s
        .split_once('=')
        .ok_or_else(|| format!("`{s}`: write NAME=VALUE"))?;
    Ok(HeaderMatch {
        name: name.trim().to_owned(),
        exact: Some(value.to_owned()),
        regex: None,
        present: None,
    })
}

fn delay_spec(s: &str) -> Result<DelaySpec, String> {
    let span = |v: &str| v.parse::<Span>();
    // `kind:A<sep>B`, or why not, with an example.
    let pair = |r: &'_ str, sep: &str, usage: &str| {
        r.split_once(sep)
            .map(|(a, b)| (a.to_owned(), b.to_owned()))
            .ok_or_else(|| format!("`{s}`: write {usage}"))
    };
    match s.split_once(':') {
        None => Ok(DelaySpec::Fixed(span(s)?)),
        Some(("uniform", r)) => {
            let (a, b) = pair(r, "..", "uniform:MIN..MAX, e.g. uniform:100ms..300ms")?;
            Ok(DelaySpec::Uniform {
                min: span(&a)?,
                max: span(&b)?,
            })
        }
        Some(("normal", r)) => {
            let (m, d) = pair(r, "~", "normal:MEAN~STDDEV, e.g. normal:200ms~50ms")?;
            Ok(DelaySpec::Normal {
                mean: span(&m)?,
                stddev: span(&d)?,
            })
        }
        Some(("lognormal", r)) => {
            let (m, sigma) = pair(r, "~", "lognormal:MEDIAN~SIGMA, e.g. lognormal:200ms~0.5")?;
            Ok(DelaySpec::Lognormal {
                median: span(&m)?,
                sigma: sigma
                    .trim()
                    .parse()
                    .map_err(|_| format!("`{sigma}` is not a number (sigma)"))?,
            })
        }
        Some((kind, _)) => Err(format!(
            "`{kind}` is not a delay; use a duration, uniform:, normal: or lognormal:"
        )),
    }
}

impl AddArgs {
    /// The spec the flags (or the file) describe.
    fn spec(&self) -> Result<FaultSpec, String> {
        if let Some(file) = &self.spec {
            let doc = ordo_config::load::<FaultSpec>(file).map_err(|e| e.to_string())?;
            let mut spec = doc.config;
            if self.id.is_some() {
                spec.id.clone_from(&self.id);
            }
            if self.ttl.is_some() {
                spec.ttl = self.ttl;
            }
            if self.lease.is_some() {
                spec.lease = self.lease;
            }
            return Ok(spec);
        }
        let abort = if let Some(status) = self.abort {
            Some(AbortSpec {
                status: Some(status),
                body: self.body.clone(),
                ..AbortSpec::default()
            })
        } else if self.reset {
            Some(AbortSpec {
                reset: true,
                ..AbortSpec::default()
            })
        } else if let Some(code) = self.grpc {
            Some(AbortSpec {
                grpc_status: Some(code),
                grpc_message: self.grpc_message.clone(),
                ..AbortSpec::default()
            })
        } else if self.hang {
            Some(AbortSpec {
                hang: true,
                ..AbortSpec::default()
            })
        } else {
            None
        };
        if self.delay.is_none() && abort.is_none() && self.bandwidth.is_none() {
            return Err(
                "say what to inject: --delay, --abort, --reset, --grpc, --hang or --bandwidth"
                    .to_owned(),
            );
        }
        Ok(FaultSpec {
            id: self.id.clone(),
            matches: FaultMatch {
                route: self.route.clone(),
                cluster: self.cluster.clone(),
                endpoint: self.endpoint.clone(),
                scenario: self.scenario.clone(),
                headers: self.headers.clone(),
            },
            percent: self.percent,
            delay: self.delay.clone(),
            abort,
            bandwidth: self.bandwidth.map(|b| BandwidthSpec {
                bytes_per_second: b,
            }),
            per: match self.per {
                Per::Request => FaultPer::Request,
                Per::Attempt => FaultPer::Attempt,
            },
            record: self.record,
            max_active: self.max_active,
            ttl: self.ttl,
            lease: self.lease,
        })
    }
}

pub(crate) fn run(args: FaultArgs) -> ExitCode {
    let mut admins = args.admins.clone();
    if admins.is_empty()
        && let Ok(env) = std::env::var("ORDO_ADMIN")
    {
        admins = env
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect();
    }
    if admins.is_empty() {
        eprintln!(
            "ordo fault: give the proxies' admin addresses with --admin ADDR (or ORDO_ADMIN)"
        );
        return ExitCode::from(2);
    }
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("ordo fault: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let client = AdminClient::new(Duration::from_millis(args.timeout_ms));
    rt.block_on(async move {
        match args.command {
            FaultCommand::Add(add_args) => add(&client, &admins, &add_args).await,
            FaultCommand::List { json } => list(&client, &admins, json).await,
            FaultCommand::Rm { id } => {
                each(
                    &client,
                    &admins,
                    Method::DELETE,
                    &format!("/faults/{id}"),
                    None,
                    |a, _| format!("{a}: removed {id}"),
                )
                .await
            }
            FaultCommand::Renew { id } => {
                each(
                    &client,
                    &admins,
                    Method::POST,
                    &format!("/faults/{id}/renew"),
                    None,
                    |a, _| format!("{a}: renewed {id}"),
                )
                .await
            }
            FaultCommand::Toxic(t) => toxic(&client, &admins, t).await,
            FaultCommand::Halt => {
                each(
                    &client,
                    &admins,
                    Method::DELETE,
                    "/faults",
                    None,
                    |a, body| {
                        let n = serde_json::from_slice::<serde_json::Value>(body)
                            .ok()
                            .and_then(|v| v["removed"].as_u64())
                            .unwrap_or(0);
                        format!("{a}: halted, {n} fault(s) removed")
                    },
                )
                .await
            }
        }
    })
}

/// Sends one request to each proxy at once (`calls` pairs a proxy's admin
/// address with the path); returns the answers `accept` takes, in order,
/// and whether any call failed (each failure is printed).
async fn call_all<'a>(
    client: &AdminClient,
    calls: &[(&'a str, String)],
    method: Method,
    body: Option<Vec<u8>>,
    accept: impl Fn(StatusCode) -> bool,
) -> (Vec<(&'a str, Answer)>, bool) {
    let sent = calls
        .iter()
        .map(|(a, path)| client.call(a, method.clone(), path, body.clone()));
    let results = futures_util::future::join_all(sent).await;
    let mut failed = false;
    let mut answers = Vec::with_capacity(calls.len());
    for (&(a, _), r) in calls.iter().zip(results) {
        match r {
            Ok(ans) if accept(ans.status) => answers.push((a, ans)),
            Ok(ans) => {
                failed = true;
                eprintln!("{a}: {} {}", ans.status.as_u16(), ans.error_text());
            }
            Err(e) => {
                failed = true;
                eprintln!("{e}");
            }
        }
    }
    (answers, failed)
}

/// The same `path` on every proxy.
fn everywhere<'a>(admins: &'a [String], path: &str) -> Vec<(&'a str, String)> {
    admins
        .iter()
        .map(|a| (a.as_str(), path.to_owned()))
        .collect()
}

fn exit(failed: bool) -> ExitCode {
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// Sends one request to every proxy at once; prints each outcome.
async fn each(
    client: &AdminClient,
    admins: &[String],
    method: Method,
    path: &str,
    body: Option<Vec<u8>>,
    ok: impl Fn(&str, &[u8]) -> String,
) -> ExitCode {
    let calls = everywhere(admins, path);
    let (answers, failed) = call_all(client, &calls, method, body, |s| s.is_success()).await;
    for (a, ans) in answers {
        println!("{}", ok(a, &ans.body));
    }
    exit(failed)
}

async fn add(client: &AdminClient, admins: &[String], args: &AddArgs) -> ExitCode {
    let spec = match args.spec() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("ordo fault add: {e}");
            return ExitCode::from(2);
        }
    };
    let body = serde_json::to_vec(&spec).expect("a fault spec is plain data");
    let mut ids: BTreeMap<String, String> = BTreeMap::new();
    let calls = everywhere(admins, "/faults");
    let (answers, failed) = call_all(client, &calls, Method::POST, Some(body), |s| {
        s == StatusCode::CREATED
    })
    .await;
    for (a, ans) in answers {
        let v: serde_json::Value = serde_json::from_slice(&ans.body).unwrap_or_default();
        let id = v["id"].as_str().unwrap_or("?").to_owned();
        let expires = v["expires_in_ms"].as_u64().map_or(String::new(), |ms| {
            format!(", expires in {}", Span::from_millis(ms))
        });
        println!("{a}: added {id}{expires}");
        ids.insert(a.to_owned(), id);
    }
    let held = match spec.lease {
        Some(lease) if !ids.is_empty() => hold(client, &ids, lease.get()).await,
        _ => ExitCode::SUCCESS,
    };
    if failed { ExitCode::FAILURE } else { held }
}

/// Renews the faults' leases every third of a lease until interrupted,
/// then removes them.
async fn hold(client: &AdminClient, ids: &BTreeMap<String, String>, lease: Duration) -> ExitCode {
    eprintln!("holding the fault(s); Ctrl-C removes them");
    let every = (lease / 3).max(Duration::from_millis(50));
    let mut tick = tokio::time::interval(every);
    tick.tick().await;
    let stop = crate::proxy::stopped();
    tokio::pin!(stop);
    let renew_paths: Vec<(&String, String)> = ids
        .iter()
        .map(|(a, id)| (a, format!("/faults/{id}/renew")))
        .collect();
    loop {
        tokio::select! {
            _ = tick.tick() => {
                // Every proxy at once: a slow one must not make the others'
                // leases lapse.
                let renewals = renew_paths
                    .iter()
                    .map(|(a, path)| client.call(a, Method::POST, path, None));
                let results = futures_util::future::join_all(renewals).await;
                for ((a, id), r) in ids.iter().zip(results) {
                    match r {
                        Ok(ans) if ans.status.is_success() => {}
                        Ok(ans) => {
                            // Gone (expired, removed, halted): nothing to hold.
                            eprintln!("{a}: {id} can no longer be renewed: {}", ans.error_text());
                            return ExitCode::FAILURE;
                        }
                        // A missed renewal is not fatal: the lease has slack.
                        Err(e) => eprintln!("{e}"),
                    }
                }
            }
            _ = &mut stop => break,
        }
    }
    let removals: Vec<(&str, String)> = ids
        .iter()
        .map(|(a, id)| (a.as_str(), format!("/faults/{id}")))
        .collect();
    let (answers, failed) = call_all(client, &removals, Method::DELETE, None, |s| {
        s.is_success() || s == StatusCode::NOT_FOUND
    })
    .await;
    for (a, _) in answers {
        println!("{a}: removed {}", ids[a]);
    }
    if failed {
        eprintln!("a fault not removed lapses by itself at the end of its lease");
    }
    exit(failed)
}

async fn toxic(client: &AdminClient, admins: &[String], cmd: ToxicCommand) -> ExitCode {
    match cmd {
        ToxicCommand::Add {
            proxy,
            kind,
            name,
            stream,
            toxicity,
            attributes,
        } => {
            let body = serde_json::json!({
                "name": name,
                "type": kind,
                "stream": stream,
                "toxicity": toxicity,
                "attributes": attributes.into_iter().collect::<BTreeMap<_, _>>(),
            });
            each(
                client,
                admins,
                Method::POST,
                &format!("/proxies/{proxy}/toxics"),
                Some(body.to_string().into_bytes()),
                |a, body| {
                    let v: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
                    format!(
                        "{a}: added toxic {} to {proxy}",
                        v["name"].as_str().unwrap_or("?")
                    )
                },
            )
            .await
        }
        ToxicCommand::Rm { proxy, name } => {
            each(
                client,
                admins,
                Method::DELETE,
                &format!("/proxies/{proxy}/toxics/{name}"),
                None,
                |a, _| format!("{a}: removed toxic {name} from {proxy}"),
            )
            .await
        }
        ToxicCommand::List => {
            each(client, admins, Method::GET, "/proxies", None, |a, body| {
                let v: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
                let mut out = String::new();
                for (name, p) in v.as_object().into_iter().flatten() {
                    out.push_str(&format!(
                        "{a}: {name} {} -> {}{}",
                        p["listen"].as_str().unwrap_or("?"),
                        p["upstream"].as_str().unwrap_or("?"),
                        if p["enabled"] == true {
                            ""
                        } else {
                            " (disabled)"
                        }
                    ));
                    for t in p["toxics"].as_array().into_iter().flatten() {
                        out.push_str(&format!(
                            "\n    {} {} {} toxicity {} {}",
                            t["name"].as_str().unwrap_or("?"),
                            t["type"].as_str().unwrap_or("?"),
                            t["stream"].as_str().unwrap_or("?"),
                            t["toxicity"],
                            t["attributes"]
                        ));
                    }
                    out.push('\n');
                }
                if out.is_empty() {
                    format!("{a}: no TCP proxies")
                } else {
                    out.trim_end().to_owned()
                }
            })
            .await
        }
    }
}

async fn list(client: &AdminClient, admins: &[String], json: bool) -> ExitCode {
    let calls = everywhere(admins, "/faults");
    let (answers, failed) = call_all(client, &calls, Method::GET, None, |s| s.is_success()).await;
    if !json {
        println!(
            "{:<22} {:<20} {:<34} {:<26} {:>7} {:>7} {:>9} {:>10}",
            "PROXY", "ID", "MATCH", "DOES", "PERCENT", "ACTIVE", "INJECTED", "EXPIRES"
        );
    }
    for (a, ans) in answers {
        if json {
            println!("{}", String::from_utf8_lossy(&ans.body));
            continue;
        }
        let faults: Vec<serde_json::Value> = serde_json::from_slice(&ans.body).unwrap_or_default();
        for f in faults {
            let spec: FaultSpec = serde_json::from_value(f["spec"].clone()).unwrap_or_default();
            println!(
                "{:<22} {:<20} {:<34} {:<26} {:>7} {:>7} {:>9} {:>10}",
                a,
                f["id"].as_str().unwrap_or("?"),
                describe_match(&spec.matches),
                describe_action(&spec),
                spec.percent,
                f["active"].as_u64().unwrap_or(0),
                f["injected"].as_u64().unwrap_or(0),
                f["expires_in_ms"]
                    .as_u64()
                    .map_or("config".to_owned(), |ms| Span::from_millis(
                        ms / 1000 * 1000
                    )
                    .to_string()),
            );
        }
    }
    exit(failed)
}

fn describe_match(m: &FaultMatch) -> String {
    let mut parts = Vec::new();
    if let Some(r) = &m.route {
        parts.push(format!("route={r}"));
    }
    if let Some(c) = &m.cluster {
        parts.push(format!("cluster={c}"));
    }
    if let Some(e) = &m.endpoint {
        parts.push(format!("endpoint={e}"));
    }
    if let Some(s) = &m.scenario {
        parts.push(format!("scenario={s}"));
    }
    for h in &m.headers {
        parts.push(format!("{}={}", h.name, h.exact.as_deref().unwrap_or("*")));
    }
    if parts.is_empty() {
        "every request".to_owned()
    } else {
        parts.join(" ")
    }
}

fn describe_action(s: &FaultSpec) -> String {
    let mut parts = Vec::new();
    if let Some(d) = &s.delay {
        parts.push(match d {
            DelaySpec::Fixed(d) => format!("delay {d}"),
            DelaySpec::Uniform { min, max } => format!("delay {min}..{max}"),
            DelaySpec::Normal { mean, stddev } => format!("delay {mean}~{stddev}"),
            DelaySpec::Lognormal { median, sigma } => format!("delay ln {median}~{sigma}"),
        });
    }
    if let Some(a) = &s.abort {
        parts.push(if let Some(st) = a.status {
            format!("abort {st}")
        } else if a.reset {
            "reset".to_owned()
        } else if let Some(g) = a.grpc_status {
            format!("grpc {g}")
        } else {
            "hang".to_owned()
        });
    }
    if let Some(b) = &s.bandwidth {
        parts.push(format!("{} B/s", b.bytes_per_second));
    }
    parts.join(", ")
}

//! PostgreSQL sources: `postgres://user[:password]@host[:port]/dbname[?schema=…]`, read
//! through the `postgres` crate; each table streams through one binary
//! `COPY (SELECT …) TO STDOUT`, decoded here.
//!
//! - Connection: the URL's fields, else libpq's environment variables (`PGHOST`, `PGPORT`,
//!   `PGUSER`, `PGPASSWORD`, `PGDATABASE`, `PGOPTIONS`, `PGCONNECT_TIMEOUT`), else
//!   libpq's defaults (the Unix sockets in `/var/run/postgresql` and `/tmp` that exist, then
//!   `localhost`; port 5432; the OS user; a database named after the user). The connect
//!   timeout (socket, handshake and authentication, per host tried) is 10 seconds unless
//!   `connect_timeout` or `PGCONNECT_TIMEOUT` says otherwise; TCP keepalives notice a
//!   vanished server within about a minute.
//!   Without a password in the URL or `PGPASSWORD`, the password file is read as libpq
//!   reads it (`PGPASSFILE`, else `~/.pgpass`; ignored when others may read it).
//!   Connections are not encrypted (`sslmode=require` fails): use a Unix socket, loopback,
//!   or an SSH tunnel.
//! - `schema` (default: the server's `current_schema()`, normally `public`) names the
//!   schema whose tables, views, materialised views, partitioned and foreign tables are the
//!   database's tables. Every identifier sent is quoted; relation names are resolved against
//!   that list first, so a name that is not a table never reaches SQL.
//! - The session runs in one `REPEATABLE READ READ ONLY` transaction that is never committed:
//!   all tables come from one snapshot and nothing can be written. Its `work_mem` is 256 MB
//!   when nothing else set it (SQL grounding's grouping, see `open`).
//! - The password appears nowhere: not in errors, not in [`Postgres::describe`].
//! - Cell types: integers (`smallint`, `integer`, `bigint`, `oid`) are integers; `real`,
//!   `double precision` and `numeric` are numbers (normalised; an infinity or NaN is the
//!   string `inf`/`-inf`/`nan`, as its text would be); `text`, `varchar`, `char`, `name`,
//!   enums, `uuid`, `json`, `jsonb` are text, parsed like CSV cells; `boolean` is 1 or 0;
//!   `date`, `timestamp`, `timestamptz` (in UTC) and `time` are ISO 8601 text as in the
//!   Parquet source (`infinity` stays text). One-dimensional arrays of numbers (`real[]`,
//!   `double precision[]`, integer and numeric arrays) are array columns. Domains read as
//!   their base type. `NULL`, a `NULL` array element and columns of other types (`bytea`,
//!   geometric types, composites, multi-dimensional arrays…) load as placeholders and are
//!   an error only when a binding uses their column.
//! - Rows keep the scan order of the table; data errors name a row by its primary key,
//!   else (tables) by its `ctid`, else (views) by its 1-based position.

use std::io::{BufReader, Read};
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use postgres::config::Host;
use postgres::{Client, Config, NoTls};

use crate::sql::{Cells, Locators, SqlRows};
use crate::table::{ArrayColumn, Column, ColumnBuilder, DataError, InvalidCell, RowRefs, Table};
use crate::time::{format_date, format_time_micros, format_timestamp_micros};
use crate::value::{Value, format_float, parse_number};

pub(crate) struct Postgres {
    /// The connection with its open read-only transaction.
    client: Mutex<Client>,
    pub(crate) schema: String,
    /// `postgres://user@host:port/dbname`, without the password.
    shown: String,
    pub(crate) tables: Vec<String>,
}

/// `"name"` with embedded quotes doubled.
fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// A client error as one line: the server's message (with its detail and hint), or the
/// connection error and its causes. Never includes the password (no error of the client
/// carries it).
pub(crate) fn pg_message(e: &postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        let mut m = db.message().to_string();
        if let Some(d) = db.detail() {
            m.push_str(&format!(" ({d})"));
        }
        if let Some(h) = db.hint() {
            m.push_str(&format!("; hint: {h}"));
        }
        return m;
    }
    let mut m = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(s) = src {
        let t = s.to_string();
        if !m.contains(&t) {
            m.push_str(&format!(": {t}"));
        }
        src = s.source();
    }
    m
}

/// Splits `schema=…` off the URL's query (the client does not know it).
fn split_schema(spec: &str) -> (String, Option<String>) {
    let Some((base, query)) = spec.split_once('?') else {
        return (spec.to_string(), None);
    };
    let mut schema = None;
    let mut rest = Vec::new();
    for pair in query.split('&') {
        match pair.split_once('=') {
            Some(("schema", v)) => schema = Some(percent_decode(v)),
            _ if pair.is_empty() => {}
            _ => rest.push(pair),
        }
    }
    let url = if rest.is_empty() {
        base.to_string()
    } else {
        format!("{base}?{}", rest.join("&"))
    };
    (url, schema)
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && let Ok(x) = u8::from_str_radix(&s[i + 1..i + 3], 16)
        {
            out.push(x);
            i += 3;
            continue;
        }
        out.push(if b[i] == b'+' { b' ' } else { b[i] });
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// The connection settings: the URL, then `PG*` variables, then libpq's defaults.
fn config(url: &str) -> Result<Config, DataError> {
    // The client's parse errors name the bad option, never the password; but do not echo
    // the URL itself.
    let mut cfg = Config::from_str(url).map_err(|e| {
        DataError::new(format!(
            "cannot read the PostgreSQL URL (postgres://user[:password]@host[:port]/dbname\
             [?schema=…]): {}",
            pg_message(&e)
        ))
    })?;
    if cfg.get_hosts().is_empty() {
        match env("PGHOST") {
            Some(h) => {
                for h in h.split(',') {
                    if h.starts_with('/') {
                        cfg.host_path(h);
                    } else {
                        cfg.host(h);
                    }
                }
            }
            None => {
                for dir in ["/var/run/postgresql", "/tmp"] {
                    if std::path::Path::new(dir).join(".s.PGSQL.5432").exists()
                        || env("PGPORT").is_some_and(|p| {
                            std::path::Path::new(dir)
                                .join(format!(".s.PGSQL.{p}"))
                                .exists()
                        })
                    {
                        cfg.host_path(dir);
                    }
                }
                cfg.host("localhost");
            }
        }
    }
    if cfg.get_ports().is_empty()
        && let Some(p) = env("PGPORT")
    {
        let port: u16 = p
            .parse()
            .map_err(|_| DataError::new(format!("PGPORT={p} is not a port number")))?;
        cfg.port(port);
    }
    if cfg.get_user().is_none() {
        let user = env("PGUSER")
            .or_else(|| env("USER"))
            .or_else(|| env("LOGNAME"))
            .unwrap_or_else(|| "postgres".to_string());
        cfg.user(&user);
    }
    if cfg.get_dbname().is_none()
        && let Some(d) = env("PGDATABASE")
    {
        cfg.dbname(&d);
    }
    if cfg.get_password().is_none()
        && let Some(p) = env("PGPASSWORD")
    {
        cfg.password(p);
    }
    if cfg.get_password().is_none()
        && let Some(p) = pgpass_password(&cfg)
    {
        cfg.password(p);
    }
    if cfg.get_options().is_none()
        && let Some(o) = env("PGOPTIONS")
    {
        cfg.options(&o);
    }
    if cfg.get_connect_timeout().is_none() {
        let secs = match env("PGCONNECT_TIMEOUT") {
            Some(t) => t.parse::<u64>().map_err(|_| {
                DataError::new(format!("PGCONNECT_TIMEOUT={t} is not a number of seconds"))
            })?,
            None => 10,
        };
        cfg.connect_timeout(Duration::from_secs(secs.max(1)));
    }
    if cfg.get_application_name().is_none() {
        cfg.application_name("nrp");
    }
    // A server that vanishes (network gone, machine down) is noticed within about a
    // minute instead of TCP's two hours.
    cfg.keepalives_idle(Duration::from_secs(30));
    cfg.keepalives_interval(Duration::from_secs(10));
    cfg.keepalives_retries(3);
    Ok(cfg)
}

/// The password file's password for `cfg` (libpq's rules): `PGPASSFILE`, else
/// `~/.pgpass`; lines `host:port:database:user:password` (`*` matches anything, `\:` and
/// `\\` escape), the first line matching the first host wins; a Unix socket's host is
/// `localhost`. A file others may read is ignored, as libpq ignores it.
fn pgpass_password(cfg: &Config) -> Option<String> {
    let path = match env("PGPASSFILE") {
        Some(p) => std::path::PathBuf::from(p),
        None => std::path::PathBuf::from(env("HOME")?).join(".pgpass"),
    };
    let meta = std::fs::metadata(&path).ok()?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if !meta.is_file() || meta.permissions().mode() & 0o077 != 0 {
            return None;
        }
    }
    let text = std::fs::read_to_string(&path).ok()?;
    let host = match cfg.get_hosts().first()? {
        Host::Tcp(h) => h.clone(),
        #[cfg(unix)]
        Host::Unix(_) => "localhost".to_string(),
    };
    let port = cfg.get_ports().first().copied().unwrap_or(5432).to_string();
    let user = cfg.get_user()?.to_string();
    let db = cfg.get_dbname().map_or(user.clone(), str::to_string);
    pgpass_lookup(&text, [&host, &port, &db, &user])
}

/// The password of the first line of a password file whose four fields match `want`.
fn pgpass_lookup(text: &str, want: [&str; 4]) -> Option<String> {
    for line in text.lines() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        // Split on unescaped colons, unescaping `\:` and `\\`.
        let mut fields = vec![String::new()];
        let mut chars = line.chars();
        while let Some(c) = chars.next() {
            match c {
                '\\' => fields.last_mut()?.extend(chars.next()),
                ':' if fields.len() < 5 => fields.push(String::new()),
                c => fields.last_mut()?.push(c),
            }
        }
        if fields.len() != 5 {
            continue;
        }
        if fields[..4]
            .iter()
            .zip(want)
            .all(|(f, w)| f == "*" || f == w)
        {
            return fields.pop();
        }
    }
    None
}

/// Connects, giving up after the connect timeout for each host tried. The client's own
/// timeout covers opening the socket only; a server that accepts the connection and then
/// never answers (a hung or overloaded server, a wrong port on another service) would
/// block the handshake forever, so the whole connection attempt is bounded here.
fn connect(cfg: &Config, shown: &str) -> Result<Client, DataError> {
    let per_host = cfg
        .get_connect_timeout()
        .copied()
        .unwrap_or(Duration::from_secs(10));
    let hosts = cfg.get_hosts().len().max(1) as u32;
    let limit = per_host * hosts;
    let (tx, rx) = std::sync::mpsc::channel();
    let attempt = cfg.clone();
    std::thread::spawn(move || {
        let _ = tx.send(attempt.connect(NoTls));
    });
    match rx.recv_timeout(limit) {
        Ok(Ok(client)) => Ok(client),
        Ok(Err(e)) => Err(DataError::new(format!(
            "cannot connect to PostgreSQL database {shown}: {}",
            pg_message(&e)
        ))),
        Err(_) => Err(DataError::new(format!(
            "cannot connect to PostgreSQL database {shown}: no answer within {} s (the \
             connect timeout: `connect_timeout=SECONDS` in the URL or PGCONNECT_TIMEOUT)",
            limit.as_secs()
        ))),
    }
}

/// `postgres://user@host:port/dbname`: the URL without its password.
fn shown(cfg: &Config) -> String {
    let hosts: Vec<String> = cfg
        .get_hosts()
        .iter()
        .enumerate()
        .map(|(i, h)| {
            let port = cfg
                .get_ports()
                .get(i)
                .or(cfg.get_ports().first())
                .copied()
                .unwrap_or(5432);
            match h {
                Host::Tcp(name) => format!("{name}:{port}"),
                Host::Unix(path) => format!("{}:{port}", path.display()),
            }
        })
        .collect();
    let user = cfg.get_user().unwrap_or("");
    let db = cfg.get_dbname().unwrap_or(user);
    format!("postgres://{user}@{}/{db}", hosts.join(","))
}

/// Type OIDs of the built-in types read.
mod oid {
    pub const BOOL: u32 = 16;
    pub const NAME: u32 = 19;
    pub const INT8: u32 = 20;
    pub const INT2: u32 = 21;
    pub const INT4: u32 = 23;
    pub const TEXT: u32 = 25;
    pub const OID: u32 = 26;
    pub const JSON: u32 = 114;
    pub const FLOAT4: u32 = 700;
    pub const FLOAT8: u32 = 701;
    pub const BPCHAR: u32 = 1042;
    pub const VARCHAR: u32 = 1043;
    pub const DATE: u32 = 1082;
    pub const TIME: u32 = 1083;
    pub const TIMESTAMP: u32 = 1114;
    pub const TIMESTAMPTZ: u32 = 1184;
    pub const NUMERIC: u32 = 1700;
    pub const UUID: u32 = 2950;
    pub const JSONB: u32 = 3802;
    pub const INT2_ARRAY: u32 = 1005;
    pub const INT4_ARRAY: u32 = 1007;
    pub const INT8_ARRAY: u32 = 1016;
    pub const FLOAT4_ARRAY: u32 = 1021;
    pub const FLOAT8_ARRAY: u32 = 1022;
    pub const NUMERIC_ARRAY: u32 = 1231;
}

/// How a column's binary cells decode.
#[derive(Clone, Copy, PartialEq)]
enum Decode {
    Bool,
    Int2,
    Int4,
    Int8,
    Oid,
    Float4,
    Float8,
    Numeric,
    Text,
    Jsonb,
    Uuid,
    Date,
    Time,
    Timestamp,
    /// Elements decode as the inner type.
    Array(Elem),
}

#[derive(Clone, Copy, PartialEq)]
enum Elem {
    Int2,
    Int4,
    Int8,
    Float4,
    Float8,
    Numeric,
}

/// A column: its name, its type as `format_type` spells it, and how to decode it (`None`:
/// an unsupported type, not fetched).
struct ColumnInfo {
    name: String,
    type_name: String,
    decode: Option<Decode>,
    /// How SQL compares its cells (refined by the loaded values in `load`).
    cells: Cells,
}

/// Numbers and text compare in SQL as nrp compares them (when the loaded cells agree);
/// other types (dates, `numeric`, padded `char(n)`, arrays) are left to nrp.
fn cells_of(type_oid: u32) -> Cells {
    use oid::*;
    match type_oid {
        // Not `real`: PostgreSQL may compare it with a literal in single precision, where
        // nrp compares the double it reads.
        INT2 | INT4 | INT8 | FLOAT8 => Cells::Num,
        TEXT | VARCHAR | NAME => Cells::Text,
        _ => Cells::Opaque,
    }
}

fn decoder(type_oid: u32, typtype: &str) -> Option<Decode> {
    use oid::*;
    Some(match type_oid {
        BOOL => Decode::Bool,
        INT2 => Decode::Int2,
        INT4 => Decode::Int4,
        INT8 => Decode::Int8,
        OID => Decode::Oid,
        FLOAT4 => Decode::Float4,
        FLOAT8 => Decode::Float8,
        NUMERIC => Decode::Numeric,
        TEXT | VARCHAR | BPCHAR | NAME | JSON => Decode::Text,
        JSONB => Decode::Jsonb,
        UUID => Decode::Uuid,
        DATE => Decode::Date,
        TIME => Decode::Time,
        TIMESTAMP | TIMESTAMPTZ => Decode::Timestamp,
        INT2_ARRAY => Decode::Array(Elem::Int2),
        INT4_ARRAY => Decode::Array(Elem::Int4),
        INT8_ARRAY => Decode::Array(Elem::Int8),
        FLOAT4_ARRAY => Decode::Array(Elem::Float4),
        FLOAT8_ARRAY => Decode::Array(Elem::Float8),
        NUMERIC_ARRAY => Decode::Array(Elem::Numeric),
        // Enums send their label.
        _ if typtype == "e" => Decode::Text,
        _ => return None,
    })
}

/// Days from 1970-01-01 to 2000-01-01, PostgreSQL's epoch.
const PG_EPOCH_DAYS: i64 = 10_957;

/// The decimal text of a binary `numeric` (`None` for NaN and infinities: see caller).
fn numeric_text(b: &[u8]) -> Result<String, String> {
    let bad = || "malformed numeric".to_string();
    if b.len() < 8 {
        return Err(bad());
    }
    let ndigits = u16::from_be_bytes([b[0], b[1]]) as usize;
    let weight = i16::from_be_bytes([b[2], b[3]]) as i64;
    let sign = u16::from_be_bytes([b[4], b[5]]);
    match sign {
        0xC000 => return Ok("nan".into()),
        0xD000 => return Ok("inf".into()),
        0xF000 => return Ok("-inf".into()),
        _ => {}
    }
    if b.len() < 8 + 2 * ndigits {
        return Err(bad());
    }
    // Base-10000 digits d0 d1 … with d0 worth 10000^weight: the integer of their 4·ndigits
    // decimal digits times 10^(4·(weight − ndigits + 1)), written in plain decimal notation
    // so that an integral value reads back as an exact integer.
    if ndigits == 0 {
        return Ok("0".into());
    }
    let mut digits = String::with_capacity(4 * ndigits + 8);
    for i in 0..ndigits {
        let d = u16::from_be_bytes([b[8 + 2 * i], b[9 + 2 * i]]);
        digits.push_str(&format!("{d:04}"));
    }
    let exp = 4 * (weight - ndigits as i64 + 1);
    let (int, frac) = if exp >= 0 {
        (
            format!("{digits}{}", "0".repeat(exp as usize)),
            String::new(),
        )
    } else {
        let point = digits.len() as i64 + exp;
        if point > 0 {
            let (a, b) = digits.split_at(point as usize);
            (a.to_string(), b.to_string())
        } else {
            (
                String::new(),
                format!("{}{digits}", "0".repeat((-point) as usize)),
            )
        }
    };
    let int = int.trim_start_matches('0');
    let frac = frac.trim_end_matches('0');
    let sign = if sign == 0x4000 { "-" } else { "" };
    Ok(match (int.is_empty(), frac.is_empty()) {
        (true, true) => "0".into(),
        (_, true) => format!("{sign}{int}"),
        (true, false) => format!("{sign}0.{frac}"),
        (false, false) => format!("{sign}{int}.{frac}"),
    })
}

fn be_i16(b: &[u8]) -> Option<i16> {
    Some(i16::from_be_bytes(b.try_into().ok()?))
}
fn be_i32(b: &[u8]) -> Option<i32> {
    Some(i32::from_be_bytes(b.try_into().ok()?))
}
fn be_i64(b: &[u8]) -> Option<i64> {
    Some(i64::from_be_bytes(b.try_into().ok()?))
}

/// One column while it loads.
struct Loader {
    decode: Option<Decode>,
    cells: ColumnBuilder,
    arrays: Option<ArrayColumn>,
    invalid: Option<(usize, InvalidCell)>,
}

impl Loader {
    fn null(&mut self, row: usize) {
        self.invalid.get_or_insert((row, InvalidCell::Null));
        match &mut self.arrays {
            Some(a) => {
                a.end_cell();
                self.cells.push_int(0);
            }
            None => self.cells.push_str(""),
        }
    }

    /// Decodes one non-NULL cell.
    fn push(&mut self, row: usize, b: &[u8]) -> Result<(), String> {
        let bad = |what: &str| format!("malformed {what} value ({} bytes)", b.len());
        let Some(decode) = self.decode else {
            return Ok(());
        };
        match decode {
            Decode::Bool => self.cells.push_int((b.first() == Some(&1)) as i64),
            Decode::Int2 => self
                .cells
                .push_int(be_i16(b).ok_or_else(|| bad("smallint"))? as i64),
            Decode::Int4 => self
                .cells
                .push_int(be_i32(b).ok_or_else(|| bad("integer"))? as i64),
            Decode::Int8 => self.cells.push_int(be_i64(b).ok_or_else(|| bad("bigint"))?),
            Decode::Oid => {
                let x = u32::from_be_bytes(b.try_into().map_err(|_| bad("oid"))?);
                self.cells.push_int(x as i64)
            }
            Decode::Float4 => {
                let x = f32::from_be_bytes(b.try_into().map_err(|_| bad("real"))?);
                self.cells.push_typed_float(x as f64)
            }
            Decode::Float8 => {
                let x = f64::from_be_bytes(b.try_into().map_err(|_| bad("double precision"))?);
                self.cells.push_typed_float(x)
            }
            Decode::Numeric => {
                let t = numeric_text(b)?;
                self.cells.push_text(&t)
            }
            Decode::Text => {
                let s = std::str::from_utf8(b).map_err(|_| "text that is not UTF-8".to_string())?;
                self.cells.push_text(s)
            }
            Decode::Jsonb => {
                let s = std::str::from_utf8(b.get(1..).unwrap_or_default())
                    .map_err(|_| "jsonb that is not UTF-8".to_string())?;
                self.cells.push_text(s)
            }
            Decode::Uuid => {
                let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
                if h.len() != 32 {
                    return Err(bad("uuid"));
                }
                let s = format!(
                    "{}-{}-{}-{}-{}",
                    &h[..8],
                    &h[8..12],
                    &h[12..16],
                    &h[16..20],
                    &h[20..]
                );
                self.cells.push_str(&s)
            }
            Decode::Date => {
                let d = be_i32(b).ok_or_else(|| bad("date"))?;
                match d {
                    i32::MAX => self.cells.push_str("infinity"),
                    i32::MIN => self.cells.push_str("-infinity"),
                    d => self.cells.push_str(&format_date(d as i64 + PG_EPOCH_DAYS)),
                }
            }
            Decode::Time => {
                let us = be_i64(b).ok_or_else(|| bad("time"))?;
                self.cells.push_str(&format_time_micros(us))
            }
            Decode::Timestamp => {
                let us = be_i64(b).ok_or_else(|| bad("timestamp"))?;
                match us {
                    i64::MAX => self.cells.push_str("infinity"),
                    i64::MIN => self.cells.push_str("-infinity"),
                    us => self.cells.push_str(&format_timestamp_micros(
                        us.saturating_add(PG_EPOCH_DAYS * 86_400_000_000),
                    )),
                }
            }
            Decode::Array(elem) => self.push_array(row, elem, b)?,
        }
        Ok(())
    }

    fn push_array(&mut self, row: usize, elem: Elem, b: &[u8]) -> Result<(), String> {
        let bad = || "malformed array value".to_string();
        let a = self
            .arrays
            .as_mut()
            .expect("array columns start with arrays");
        let ndim = be_i32(b.get(0..4).ok_or_else(bad)?).ok_or_else(bad)?;
        let mut pos = 12;
        let mut count = 0usize;
        if ndim > 1 {
            self.invalid.get_or_insert((
                row,
                InvalidCell::Unsupported(Arc::from(format!("{ndim}-dimensional array"))),
            ));
        } else if ndim == 1 {
            let n = be_i32(b.get(12..16).ok_or_else(bad)?).ok_or_else(bad)?;
            count = usize::try_from(n).map_err(|_| bad())?;
            pos = 20;
        }
        if ndim <= 1 {
            for _ in 0..count {
                let len = be_i32(b.get(pos..pos + 4).ok_or_else(bad)?).ok_or_else(bad)?;
                pos += 4;
                if len < 0 {
                    self.invalid.get_or_insert((row, InvalidCell::NullInArray));
                    continue;
                }
                let e = b.get(pos..pos + len as usize).ok_or_else(bad)?;
                pos += len as usize;
                let x = match elem {
                    Elem::Int2 => be_i16(e).ok_or_else(bad)? as f64,
                    Elem::Int4 => be_i32(e).ok_or_else(bad)? as f64,
                    Elem::Int8 => be_i64(e).ok_or_else(bad)? as f64,
                    Elem::Float4 => f32::from_be_bytes(e.try_into().map_err(|_| bad())?) as f64,
                    Elem::Float8 => f64::from_be_bytes(e.try_into().map_err(|_| bad())?),
                    Elem::Numeric => {
                        let t = numeric_text(e)?;
                        match t.as_str() {
                            "nan" => f64::NAN,
                            "inf" => f64::INFINITY,
                            "-inf" => f64::NEG_INFINITY,
                            t => parse_number(t).ok_or_else(bad)?.1,
                        }
                    }
                };
                a.values.push(x);
            }
        }
        a.end_cell();
        self.cells.push_int(0);
        Ok(())
    }
}

/// The catalog facts about one relation.
struct Relation {
    kind: String,
    columns: Vec<ColumnInfo>,
    /// Positions of the primary-key columns, in key order.
    pk: Vec<usize>,
}

impl Postgres {
    /// Connects, opens the read-only transaction and lists the schema's tables.
    pub(crate) fn open(spec: &str) -> Result<Postgres, DataError> {
        let (url, schema) = split_schema(spec);
        let cfg = config(&url)?;
        let shown = shown(&cfg);
        let mut client = connect(&cfg, &shown)?;
        let err = |e: postgres::Error| {
            DataError::new(format!("PostgreSQL database {shown}: {}", pg_message(&e)))
        };
        client
            .batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            .map_err(err)?;
        // SQL grounding groups millions of rows (`SELECT DISTINCT`, `GROUP BY`): at the
        // factory `work_mem` of 4 MB a misestimated hash aggregate spills and takes minutes
        // instead of seconds. Only this transaction's setting changes, and only when no one
        // chose one (server configuration, role, `options=-c work_mem=…` all win).
        client
            .batch_execute(
                "SELECT set_config('work_mem', '256MB', true) FROM pg_catalog.pg_settings \
                 WHERE name = 'work_mem' AND source = 'default'",
            )
            .map_err(err)?;
        let schema = match schema {
            Some(s) => s,
            None => {
                let row = client
                    .query_one("SELECT current_schema()", &[])
                    .map_err(err)?;
                row.get::<_, Option<String>>(0).ok_or_else(|| {
                    DataError::new(format!(
                        "PostgreSQL database {shown}: no schema of the search path exists; \
                         name one with ?schema=…"
                    ))
                })?
            }
        };
        let exists = client
            .query(
                "SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = $1",
                &[&schema],
            )
            .map_err(err)?;
        if exists.is_empty() {
            return Err(DataError::new(format!(
                "PostgreSQL database {shown} has no schema `{schema}`"
            )));
        }
        let rows = client
            .query(
                "SELECT c.relname::text FROM pg_catalog.pg_class c \
                 JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
                 WHERE n.nspname = $1 AND c.relkind IN ('r', 'v', 'm', 'p', 'f') \
                 ORDER BY 1",
                &[&schema],
            )
            .map_err(err)?;
        let mut tables: Vec<String> = rows.iter().map(|r| r.get(0)).collect();
        tables.sort();
        Ok(Postgres {
            client: Mutex::new(client),
            schema,
            shown,
            tables,
        })
    }

    /// "PostgreSQL database postgres://user@host:5432/db, schema public".
    pub(crate) fn describe(&self) -> String {
        format!("PostgreSQL database {}, schema {}", self.shown, self.schema)
    }

    pub(crate) fn client(&self) -> std::sync::MutexGuard<'_, Client> {
        self.client.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn error(&self, table: &str, e: impl std::fmt::Display) -> DataError {
        DataError::new(format!(
            "cannot read table `{table}` from {}: {e}",
            self.describe()
        ))
    }

    fn relation(&self, client: &mut Client, table: &str) -> Result<Relation, DataError> {
        let err = |e: postgres::Error| self.error(table, pg_message(&e));
        let rel = client
            .query(
                "SELECT c.oid, c.relkind::text FROM pg_catalog.pg_class c \
                 JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
                 WHERE n.nspname = $1 AND c.relname = $2",
                &[&self.schema, &table],
            )
            .map_err(err)?;
        let Some(rel) = rel.first() else {
            return Err(self.error(
                table,
                "it no longer exists (dropped or renamed after nrp listed the tables)",
            ));
        };
        let rel_oid: u32 = rel.get(0);
        let kind: String = rel.get(1);
        let cols = client
            .query(
                "SELECT a.attname::text, \
                        CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE a.atttypid END, \
                        COALESCE(b.typtype, t.typtype)::text, \
                        pg_catalog.format_type(a.atttypid, a.atttypmod) \
                 FROM pg_catalog.pg_attribute a \
                 JOIN pg_catalog.pg_type t ON t.oid = a.atttypid \
                 LEFT JOIN pg_catalog.pg_type b ON t.typtype = 'd' AND b.oid = t.typbasetype \
                 WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped \
                 ORDER BY a.attnum",
                &[&rel_oid],
            )
            .map_err(err)?;
        let columns: Vec<ColumnInfo> = cols
            .iter()
            .map(|r| {
                let type_oid: u32 = r.get(1);
                let typtype: String = r.get(2);
                ColumnInfo {
                    name: r.get(0),
                    type_name: r.get(3),
                    decode: decoder(type_oid, &typtype),
                    cells: cells_of(type_oid),
                }
            })
            .collect();
        let pk_rows = client
            .query(
                "SELECT a.attname::text FROM pg_catalog.pg_index i \
                 JOIN pg_catalog.pg_attribute a \
                   ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) \
                 WHERE i.indrelid = $1 AND i.indisprimary \
                 ORDER BY array_position(i.indkey::int2[], a.attnum)",
                &[&rel_oid],
            )
            .map_err(err)?;
        let pk = pk_rows
            .iter()
            .filter_map(|r| {
                let name: String = r.get(0);
                columns.iter().position(|c| c.name == name)
            })
            .collect();
        Ok(Relation { kind, columns, pk })
    }

    pub(crate) fn columns(&self, table: &str) -> Result<Vec<String>, DataError> {
        let mut client = self.client();
        let rel = self.relation(&mut client, table)?;
        Ok(rel.columns.into_iter().map(|c| c.name).collect())
    }

    pub(crate) fn load(&self, table: &str) -> Result<Table, DataError> {
        let mut client = self.client();
        let rel = self.relation(&mut client, table)?;
        // Plain tables without a primary key are referred to by ctid; every plain table's
        // ctids are SQL grounding's row locators (same snapshot as its matches).
        let with_ctid = rel.kind == "r";
        let mut select: Vec<String> = rel
            .columns
            .iter()
            .filter(|c| c.decode.is_some())
            .map(|c| quote_ident(&c.name))
            .collect();
        if with_ctid {
            select.push("ctid".into());
        }
        if select.is_empty() {
            // Every column unsupported (or none): still count the rows.
            select.push("NULL::int4".into());
        }
        let sql = format!(
            "COPY (SELECT {} FROM {}.{}) TO STDOUT (FORMAT binary)",
            select.join(", "),
            quote_ident(&self.schema),
            quote_ident(table)
        );
        let mut loaders: Vec<Loader> = rel
            .columns
            .iter()
            .map(|c| Loader {
                decode: c.decode,
                cells: ColumnBuilder::with_capacity(0),
                arrays: matches!(c.decode, Some(Decode::Array(_)))
                    .then(|| ArrayColumn::new(c.type_name.clone())),
                invalid: c
                    .decode
                    .is_none()
                    .then(|| (0, InvalidCell::Unsupported(Arc::from(c.type_name.as_str())))),
            })
            .collect();
        let fetched: Vec<usize> = (0..loaders.len())
            .filter(|&i| loaders[i].decode.is_some())
            .collect();
        let reader = client.copy_out(&sql).map_err(|e| {
            if e.code() == Some(&postgres::error::SqlState::UNDEFINED_TABLE) {
                self.error(
                    table,
                    format!(
                        "{}: it no longer exists (dropped or renamed after nrp opened the \
                         database)",
                        pg_message(&e)
                    ),
                )
            } else {
                self.error(table, pg_message(&e))
            }
        })?;
        let mut r = BufReader::with_capacity(1 << 16, reader);
        let mut ctids = Vec::new();
        let n = read_copy(&mut r, |row, mut f| {
            for &c in &fetched {
                let cell = f.next().ok_or("too few fields")?;
                match cell {
                    None => loaders[c].null(row),
                    Some(b) => loaders[c]
                        .push(row, b)
                        .map_err(|e| format!("column `{}`: {e}", rel.columns[c].name))?,
                }
            }
            for l in loaders.iter_mut().filter(|l| l.decode.is_none()) {
                l.cells.push_str("");
            }
            if with_ctid {
                let t = f.next().flatten().ok_or("missing ctid")?;
                if t.len() != 6 {
                    return Err("malformed ctid".into());
                }
                let block = u32::from_be_bytes([t[0], t[1], t[2], t[3]]);
                let tuple = u16::from_be_bytes([t[4], t[5]]);
                ctids.push((block, tuple));
            }
            Ok(())
        })
        .map_err(|e| self.error(table, e))?;
        let mut cells = Vec::with_capacity(loaders.len());
        let mut invalid = Vec::with_capacity(loaders.len());
        let mut arrays = Vec::with_capacity(loaders.len());
        for l in loaders {
            cells.push(l.cells.finish());
            invalid.push(if n == 0 { None } else { l.invalid });
            arrays.push(l.arrays);
        }
        if arrays.iter().all(Option::is_none) {
            arrays.clear();
        }
        // SQL `=` agrees with nrp's equality on numbers nrp reads as numbers (no infinities)
        // and on text nrp reads as text (no number-like strings).
        let kinds: Vec<Cells> = rel
            .columns
            .iter()
            .zip(&cells)
            .map(|(c, col)| match (c.cells, col) {
                (Cells::Num, Column::Int(_) | Column::Float(_)) => Cells::Num,
                (Cells::Text, Column::Mixed(v)) if v.iter().all(|x| matches!(x, Value::Str(_))) => {
                    Cells::Text
                }
                (Cells::Text, _) if n == 0 => Cells::Text,
                _ => Cells::Opaque,
            })
            .collect();
        Ok(Table {
            name: table.to_string(),
            columns: rel.columns.into_iter().map(|c| c.name).collect(),
            cells,
            rows: n,
            sql: with_ctid.then(|| SqlRows {
                locators: Locators::Ctid(ctids.clone()),
                cells: kinds,
            }),
            refs: if with_ctid && rel.pk.is_empty() {
                RowRefs::Ctid(ctids)
            } else {
                RowRefs::Sql {
                    pk: rel.pk,
                    rowids: None,
                }
            },
            invalid,
            arrays,
        })
    }
}

impl Postgres {
    /// The rows of `select` (a relation SQL grounding computes: numbers and text), decoded
    /// as a table's cells are, streamed by a binary `COPY` in the session's snapshot.
    pub(crate) fn load_query(
        &self,
        name: &str,
        select: &str,
    ) -> Result<(Vec<Column>, usize), DataError> {
        let err = |e: String| {
            DataError::new(format!(
                "computing `{name}` in {} failed: {e}",
                self.describe()
            ))
        };
        let mut client = self.client();
        let stmt = client.prepare(select).map_err(|e| err(pg_message(&e)))?;
        let mut loaders: Vec<Loader> = stmt
            .columns()
            .iter()
            .map(|c| Loader {
                decode: decoder(c.type_().oid(), "b"),
                cells: ColumnBuilder::with_capacity(0),
                arrays: None,
                invalid: None,
            })
            .collect();
        if let Some(c) = stmt
            .columns()
            .iter()
            .find(|c| decoder(c.type_().oid(), "b").is_none())
        {
            return Err(err(format!("column `{}` has type {}", c.name(), c.type_())));
        }
        let reader = client
            .copy_out(&format!("COPY ({select}) TO STDOUT (FORMAT binary)"))
            .map_err(|e| err(pg_message(&e)))?;
        let mut r = BufReader::with_capacity(1 << 16, reader);
        let n = read_copy(&mut r, |row, mut f| {
            for l in loaders.iter_mut() {
                match f.next().ok_or("too few fields")? {
                    None => return Err(format!("row {} holds NULL", row + 1)),
                    Some(b) => l.push(row, b)?,
                }
            }
            Ok(())
        })
        .map_err(err)?;
        Ok((loaders.into_iter().map(|l| l.cells.finish()).collect(), n))
    }
}

/// The fields of one COPY tuple, in order (`None` for NULL).
pub(crate) struct Fields<'a> {
    buf: &'a [u8],
    spans: &'a [Option<(usize, usize)>],
    next: usize,
}

impl<'a> Iterator for Fields<'a> {
    type Item = Option<&'a [u8]>;
    fn next(&mut self) -> Option<Self::Item> {
        let s = self.spans.get(self.next)?;
        self.next += 1;
        Some(s.map(|(a, b)| &self.buf[a..b]))
    }
}

/// Reads a binary COPY stream, calling `row(index, fields)` per tuple; returns the count.
pub(crate) fn read_copy(
    r: &mut impl Read,
    mut row: impl FnMut(usize, Fields<'_>) -> Result<(), String>,
) -> Result<usize, String> {
    let io = |e: std::io::Error| {
        // The client reports a server error (a statement timeout, a terminated
        // connection) as an I/O error wrapping it.
        match e
            .get_ref()
            .and_then(|i| i.downcast_ref::<postgres::Error>())
        {
            Some(pe) => pg_message(pe),
            None => format!("reading the COPY stream: {e}"),
        }
    };
    let mut header = [0u8; 19];
    r.read_exact(&mut header).map_err(io)?;
    if &header[..11] != b"PGCOPY\n\xff\r\n\0" {
        return Err("the server's COPY stream is not in binary format".into());
    }
    let ext = u32::from_be_bytes([header[15], header[16], header[17], header[18]]);
    std::io::copy(&mut r.by_ref().take(ext as u64), &mut std::io::sink()).map_err(io)?;
    let mut buf: Vec<u8> = Vec::new();
    let mut spans: Vec<Option<(usize, usize)>> = Vec::new();
    let mut n = 0usize;
    loop {
        let mut count = [0u8; 2];
        r.read_exact(&mut count).map_err(io)?;
        let count = i16::from_be_bytes(count);
        if count < 0 {
            break;
        }
        buf.clear();
        spans.clear();
        for _ in 0..count {
            let mut len = [0u8; 4];
            r.read_exact(&mut len).map_err(io)?;
            let len = i32::from_be_bytes(len);
            if len < 0 {
                spans.push(None);
                continue;
            }
            let start = buf.len();
            buf.resize(start + len as usize, 0);
            r.read_exact(&mut buf[start..]).map_err(io)?;
            spans.push(Some((start, start + len as usize)));
        }
        row(
            n,
            Fields {
                buf: &buf,
                spans: &spans,
                next: 0,
            },
        )?;
        n += 1;
    }
    Ok(n)
}

/// Writes tables into `schema` (created if missing; tables of the same names are replaced)
/// of the database at `url`, in one transaction (used by `export::write_postgres`).
pub(crate) fn write_tables(
    url: &str,
    schema: &str,
    tables: &[(&Table, Vec<crate::export::Kind>)],
) -> Result<(), DataError> {
    use crate::export::Kind;
    use std::io::Write;
    let mut cfg = config(url)?;
    cfg.application_name("nrp-export");
    let shown = shown(&cfg);
    let err = |e: postgres::Error| {
        DataError::new(format!("PostgreSQL database {shown}: {}", pg_message(&e)))
    };
    let mut client = connect(&cfg, &shown)?;
    let mut tx = client.transaction().map_err(err)?;
    tx.batch_execute(&format!(
        "CREATE SCHEMA IF NOT EXISTS {}",
        quote_ident(schema)
    ))
    .map_err(err)?;
    for (t, kinds) in tables {
        let name = format!("{}.{}", quote_ident(schema), quote_ident(&t.name));
        let cols: Vec<String> = t
            .columns
            .iter()
            .zip(kinds)
            .map(|(c, k)| {
                let ty = match k {
                    Kind::Int(_) => "bigint",
                    Kind::Float(_) => "double precision",
                    Kind::Text(_) => "text",
                    Kind::Arrays(_) => "double precision[]",
                };
                format!("{} {ty} NOT NULL", quote_ident(c))
            })
            .collect();
        tx.batch_execute(&format!(
            "DROP TABLE IF EXISTS {name}; CREATE TABLE {name} ({})",
            cols.join(", ")
        ))
        .map_err(err)?;
        let mut w = tx
            .copy_in(&format!("COPY {name} FROM STDIN (FORMAT csv)"))
            .map_err(err)?;
        let mut line = String::new();
        for i in 0..t.len() {
            line.clear();
            for (j, k) in kinds.iter().enumerate() {
                if j > 0 {
                    line.push(',');
                }
                match k {
                    Kind::Int(v) => line.push_str(&v[i].to_string()),
                    Kind::Float(v) => line.push_str(&format_float(v[i])),
                    Kind::Text(v) => {
                        line.push('"');
                        line.push_str(&v[i].replace('"', "\"\""));
                        line.push('"');
                    }
                    Kind::Arrays(v) => {
                        let items: Vec<String> = v[i].iter().map(|x| format_float(*x)).collect();
                        line.push_str(&format!("\"{{{}}}\"", items.join(",")));
                    }
                }
            }
            line.push('\n');
            w.write_all(line.as_bytes())
                .map_err(|e| DataError::new(format!("PostgreSQL database {shown}: {e}")))?;
        }
        w.finish().map_err(err)?;
    }
    tx.commit().map_err(err)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numeric_binary_reads_as_decimal_text() {
        // 12.34: ndigits 2, weight 0, sign +, dscale 2, digits 12 3400.
        let b = [0, 2, 0, 0, 0, 0, 0, 2, 0, 12, 0x0D, 0x48];
        let t = numeric_text(&b).unwrap();
        assert_eq!(parse_number(&t).unwrap().1, 12.34);
        // -100000: ndigits 1, weight 1, digits 10.
        let b = [0, 1, 0, 1, 0x40, 0, 0, 0, 0, 10];
        assert_eq!(
            parse_number(&numeric_text(&b).unwrap()).unwrap().0,
            Some(-100000)
        );
        // 0.0001: weight -1, digit 1.
        let b = [0, 1, 0xFF, 0xFF, 0, 0, 0, 4, 0, 1];
        assert_eq!(parse_number(&numeric_text(&b).unwrap()).unwrap().1, 0.0001);
        assert_eq!(numeric_text(&[0, 0, 0, 0, 0xC0, 0, 0, 0]).unwrap(), "nan");
        assert_eq!(
            numeric_text(&[0, 2, 0, 0, 0, 0, 0, 2, 0, 12, 0x0D, 0x48]).unwrap(),
            "12.34"
        );
        // 90071992547409930001 (weight 4, digits 9007 1992 5474 0993 0001): exact.
        let b = [
            0, 5, 0, 4, 0, 0, 0, 0, 0x23, 0x2F, 0x07, 0xC8, 0x15, 0x62, 0x03, 0xE1, 0, 1,
        ];
        assert_eq!(numeric_text(&b).unwrap(), "90071992547409930001");
    }

    #[test]
    fn schema_is_split_off_and_the_rest_kept() {
        assert_eq!(
            split_schema("postgres://u@h/db?schema=s1&connect_timeout=3"),
            (
                "postgres://u@h/db?connect_timeout=3".to_string(),
                Some("s1".into())
            )
        );
        assert_eq!(
            split_schema("postgres://u@h/db?schema=my%20s"),
            ("postgres://u@h/db".to_string(), Some("my s".into()))
        );
        assert_eq!(
            split_schema("postgres://h/db"),
            ("postgres://h/db".into(), None)
        );
    }

    #[test]
    fn password_file_lines_match_as_libpq_matches_them() {
        let file = "# comment\n\
                    other:5432:*:*:no\n\
                    localhost:5432:db\\:x:me:colon\n\
                    localhost:*:*:me:pa\\:ss\\\\word\n\
                    *:*:*:*:fallback\n";
        let get = |w: [&str; 4]| pgpass_lookup(file, w);
        assert_eq!(
            get(["localhost", "5432", "db:x", "me"]).as_deref(),
            Some("colon")
        );
        assert_eq!(
            get(["localhost", "5433", "cora", "me"]).as_deref(),
            Some("pa:ss\\word")
        );
        assert_eq!(
            get(["remote", "5432", "cora", "you"]).as_deref(),
            Some("fallback")
        );
        assert_eq!(
            pgpass_lookup("host:1:db:u\n", ["host", "1", "db", "v"]),
            None
        );
    }

    #[test]
    fn shown_url_has_no_password() {
        let cfg = config("postgres://alice:s3cret@db.example:5433/shop").unwrap();
        let s = shown(&cfg);
        assert_eq!(s, "postgres://alice@db.example:5433/shop");
    }
}

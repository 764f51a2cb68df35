//! Accounts: the credentials file, the name rules, and the lockout rule.
//!
//! The credentials file is read once at start-up (a malformed line, a line that is not
//! UTF-8 or a user listed twice stops the server with its line number) and only ever
//! appended to afterwards (sign-ups), with an fsync before the new user is welcomed so an
//! acknowledged sign-up survives a crash; a failed append is cut back to the last whole
//! line. The file is mode 0600 (tightened at start-up if looser). A sign-up's password is
//! stored as an argon2id PHC string (`$argon2id$v=19$...`); plain lines written by hand
//! keep working. Passwords are compared in constant time and never logged, and a wrong
//! plain password costs one argon2 verification too, so a wrong password takes as long
//! whether the account's password is plain or hashed. Lockout is a pure function of `now`, so it
//! is tested without sleeping; the timer thread lifts expired locks.

use super::files::{self, End};
use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

/// Characters allowed in usernames and passwords (besides letters and digits).
const NAME_SYMBOLS: &str = "~!@#$%^&*_-+=`|\\(){}[]:;\"'<>,.?/";

/// 1 to 32 characters from A-Z a-z 0-9 and `NAME_SYMBOLS`.
pub fn valid_credential(s: &str) -> bool {
    (1..=32).contains(&s.len())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || NAME_SYMBOLS.contains(c))
}

/// One account's login state.
#[derive(Debug, Clone)]
pub struct Account {
    pub password: String,
    /// Consecutive wrong passwords since the last success or lockout.
    pub failures: u32,
    pub locked_until: Option<Instant>,
}

impl Account {
    pub fn new(password: String) -> Account {
        Account {
            password,
            failures: 0,
            locked_until: None,
        }
    }

    pub fn is_locked(&self, now: Instant) -> bool {
        self.locked_until.is_some_and(|until| now < until)
    }

    /// Counts a wrong password; returns true when this one locks the account.
    pub fn record_failure(&mut self, now: Instant, attempts: u32, block: Duration) -> bool {
        self.failures += 1;
        if self.failures >= attempts {
            self.failures = 0;
            self.locked_until = Some(now + block);
            true
        } else {
            false
        }
    }

    pub fn record_success(&mut self) {
        self.failures = 0;
    }

    /// Lifts an expired lock; returns true if one was lifted.
    pub fn expire(&mut self, now: Instant) -> bool {
        if self.locked_until.is_some_and(|until| now >= until) {
            self.locked_until = None;
            return true;
        }
        false
    }
}

/// argon2id parameters for new sign-ups: OWASP's minimum (19 MiB, 2 passes, 1 lane),
/// ~20 ms a hash on these machines, so a burst of sign-ups stays quick.
const ARGON2_M_KIB: u32 = 19 * 1024;
const ARGON2_T: u32 = 2;
const ARGON2_P: u32 = 1;
const PHC_PREFIX: &str = "$argon2id$";

fn argon2() -> argon2::Argon2<'static> {
    let params = argon2::Params::new(ARGON2_M_KIB, ARGON2_T, ARGON2_P, None)
        .expect("constant argon2 parameters are valid");
    argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params)
}

/// Is this stored password field an argon2id PHC string (rather than a plain password)?
pub fn is_hash(stored: &str) -> bool {
    stored.starts_with(PHC_PREFIX) && argon2::PasswordHash::new(stored).is_ok()
}

/// Hashes a new password as an argon2id PHC string (`$argon2id$v=19$m=19456,t=2,p=1$...`)
/// with a random salt.
pub fn hash_password(password: &str) -> String {
    use argon2::password_hash::{PasswordHasher, SaltString};
    let salt_bytes: [u8; 16] = rand::random();
    let salt = SaltString::encode_b64(&salt_bytes).expect("16 bytes is a valid salt");
    let _slot = HashSlot::take();
    argon2()
        .hash_password(password.as_bytes(), &salt)
        .expect("argon2 hashing with valid parameters cannot fail")
        .to_string()
}

/// Compares a given password with a stored field in time independent of where they
/// differ: argon2 verification for PHC strings (its final comparison is constant-time),
/// otherwise equality of BLAKE3 digests (whose `==` is constant-time and hides the length).
pub fn verify(stored: &str, given: &str) -> bool {
    use argon2::password_hash::PasswordVerifier;
    if stored.starts_with(PHC_PREFIX) {
        if let Ok(hash) = argon2::PasswordHash::new(stored) {
            let _slot = HashSlot::take();
            return argon2().verify_password(given.as_bytes(), &hash).is_ok();
        }
    }
    let right = blake3::hash(stored.as_bytes()) == blake3::hash(given.as_bytes());
    // A wrong plain password costs the same argon2 work as a wrong hashed one (against a
    // fixed hash, result unused), so timing does not tell which accounts are stored
    // plain. A right one stays fast: only its owner can measure that.
    if !right {
        if let Ok(hash) = argon2::PasswordHash::new(dummy_hash()) {
            let _slot = HashSlot::take();
            let _ = argon2().verify_password(given.as_bytes(), &hash);
        }
    }
    right
}

/// An argon2id hash with the sign-up parameters, made once.
fn dummy_hash() -> &'static str {
    static HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HASH.get_or_init(|| hash_password("chinwag timing equaliser"))
}

/// Bounds how many argon2 computations run at once (each holds 19 MiB and a core): a
/// thousand simultaneous sign-ups queue here instead of taking 19 GiB.
struct HashSlot;

static SLOTS_BUSY: parking_lot::Mutex<usize> = parking_lot::Mutex::new(0);
static SLOT_FREED: parking_lot::Condvar = parking_lot::Condvar::new();

impl HashSlot {
    fn take() -> HashSlot {
        let max = std::thread::available_parallelism().map_or(2, |n| n.get().max(2));
        let mut busy = SLOTS_BUSY.lock();
        while *busy >= max {
            SLOT_FREED.wait(&mut busy);
        }
        *busy += 1;
        HashSlot
    }
}

impl Drop for HashSlot {
    fn drop(&mut self) {
        *SLOTS_BUSY.lock() -= 1;
        SLOT_FREED.notify_one();
    }
}

/// Reads `username password` lines; creates the file empty (mode 0600) if missing and
/// tightens its mode if looser. Blank lines are skipped; trailing white space (as in the
/// tutor's own file) is ignored. A line that is not UTF-8, malformed, or names a user
/// already listed is an error naming its line number.
pub fn load(path: &Path) -> Result<Vec<(String, String)>, String> {
    let cannot = |what: &str, e: io::Error| format!("cannot {what} {}: {e}", path.display());
    let file = match files::open_read(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            open_append(path).map_err(|e| cannot("create", e))?;
            return Ok(Vec::new());
        }
        Err(e) => return Err(cannot("read", e)),
    };
    files::private(&file).map_err(|e| cannot("restrict the mode of", e))?;
    let mut bytes = Vec::new();
    (&file)
        .read_to_end(&mut bytes)
        .map_err(|e| cannot("read", e))?;
    parse(path, &bytes)
}

fn parse(path: &Path, bytes: &[u8]) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    let mut seen: HashMap<String, usize> = HashMap::new();
    for (i, raw) in bytes.split(|&b| b == b'\n').enumerate() {
        let at = format!("{} line {}", path.display(), i + 1);
        let line = std::str::from_utf8(raw)
            .map_err(|_| format!("{at}: not valid UTF-8"))?
            .trim_end();
        if line.is_empty() {
            continue;
        }
        let Some((u, p)) = line
            .split_once(' ')
            .filter(|(u, p)| valid_credential(u) && (valid_credential(p) || is_hash(p)))
        else {
            return Err(format!(
                "{at}: expected `username password` (1 to 32 allowed characters each, one space between)"
            ));
        };
        if let Some(first) = seen.insert(u.to_string(), i + 1) {
            return Err(format!("{at}: user {u} is already listed on line {first}"));
        }
        out.push((u.to_string(), p.to_string()));
    }
    Ok(out)
}

fn open_append(path: &Path) -> io::Result<File> {
    files::no_follow()
        .read(true)
        .append(true)
        .create(true)
        .mode(0o600)
        .open(path)
}

/// Appends one account and syncs it to disk, starting a new line if the file lacks a
/// final newline. A failed write is cut back, so the file never holds half an account.
pub fn append(path: &Path, user: &str, password: &str) -> io::Result<()> {
    let mut f = open_append(path)?;
    let len = f.metadata()?.len();
    let mut line = String::new();
    if len > 0 {
        f.seek(SeekFrom::End(-1))?;
        let mut last = [0u8; 1];
        f.read_exact(&mut last)?;
        if last[0] != b'\n' {
            line.push('\n');
        }
    }
    line.push_str(&format!("{user} {password}\n"));
    End::at(len).append(&f, line.as_bytes())?;
    f.sync_data()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lockout_after_attempts_and_lifted_after_block() {
        let t0 = Instant::now();
        let block = Duration::from_secs(10);
        let mut a = Account::new("wise".into());
        assert!(!a.record_failure(t0, 3, block));
        assert!(!a.record_failure(t0, 3, block));
        assert!(a.record_failure(t0, 3, block));
        assert!(a.is_locked(t0 + Duration::from_secs(9)));
        assert!(!a.expire(t0 + Duration::from_secs(9)));
        assert!(a.expire(t0 + block));
        assert!(!a.is_locked(t0 + block));
        assert_eq!(a.failures, 0);
    }

    #[test]
    fn success_resets_failures() {
        let t0 = Instant::now();
        let mut a = Account::new("wise".into());
        a.record_failure(t0, 3, Duration::from_secs(1));
        a.record_success();
        assert!(!a.record_failure(t0, 2, Duration::from_secs(1)));
    }

    #[test]
    fn credential_rules() {
        assert!(valid_credential("darkside(forever%"));
        assert!(valid_credential("Obi-wan"));
        assert!(!valid_credential(""));
        assert!(!valid_credential("has space"));
        assert!(!valid_credential(&"a".repeat(33)));
        assert!(!valid_credential("é"));
    }

    #[test]
    fn load_reports_the_malformed_line_number() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.txt");
        std::fs::write(
            &p,
            "hans indiana#jones\nbobafett mandalorian666 \n\nbroken\n",
        )
        .unwrap();
        let err = load(&p).unwrap_err();
        assert!(err.contains("line 4"), "{err}");
        std::fs::write(&p, "hans indiana#jones\nbobafett mandalorian666 \n").unwrap();
        assert_eq!(load(&p).unwrap().len(), 2);
    }

    #[test]
    fn hashed_passwords_verify_and_load() {
        let h = hash_password("wise");
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h}");
        assert!(is_hash(&h));
        assert!(verify(&h, "wise"));
        assert!(!verify(&h, "wisE"));
        assert!(!verify(&h, ""));
        assert_ne!(hash_password("wise"), h, "salted");
        // Plain passwords keep working, compared in constant time.
        assert!(verify("wise", "wise"));
        assert!(!verify("wise", "wis"));
        assert!(!verify("wise", "wisdom"));
        // A plain password that merely looks like a hash prefix is still plain.
        assert!(!is_hash("$argon2id$x"));
        assert!(verify("$argon2id$x", "$argon2id$x"));
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.txt");
        std::fs::write(&p, "hans indiana#jones\n").unwrap();
        append(&p, "jaba", &h).unwrap();
        let loaded = load(&p).unwrap();
        assert_eq!(loaded[1], ("jaba".to_string(), h.clone()));
        assert!(verify(&loaded[1].1, "wise"));
    }

    #[test]
    fn append_adds_a_newline_when_missing() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.txt");
        std::fs::write(&p, "hans solo").unwrap();
        append(&p, "jaba", "longtongue").unwrap();
        assert_eq!(
            std::fs::read_to_string(&p).unwrap(),
            "hans solo\njaba longtongue\n"
        );
    }

    #[test]
    fn duplicates_and_bad_utf8_are_reported_with_their_line() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.txt");
        std::fs::write(&p, "hans solo\nyoda wise\nhans other\n").unwrap();
        let err = load(&p).unwrap_err();
        assert!(err.contains("line 3") && err.contains("line 1"), "{err}");
        std::fs::write(&p, b"hans solo\nyoda w\xffise\n").unwrap();
        let err = load(&p).unwrap_err();
        assert!(err.contains("line 2") && err.contains("UTF-8"), "{err}");
    }

    #[test]
    fn credentials_are_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.txt");
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        load(&p).unwrap();
        assert_eq!(mode(&p), 0o600);
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
        load(&p).unwrap();
        assert_eq!(mode(&p), 0o600);
    }

    /// A wrong password costs the same whether the account is stored plain or hashed
    /// (both run one argon2 verification; before, plain took microseconds).
    #[test]
    fn plain_and_hashed_accounts_take_the_same_time() {
        let hashed = hash_password("wise");
        verify("wise", "warm-up");
        // The fastest of several runs, so other tests running meanwhile do not skew it.
        let time = |stored: &str| {
            (0..5)
                .map(|_| {
                    let t = Instant::now();
                    assert!(!verify(stored, "wrong"));
                    t.elapsed()
                })
                .min()
                .unwrap()
        };
        let (plain, hashed) = (time("wise"), time(&hashed));
        let ratio = plain.as_secs_f64() / hashed.as_secs_f64();
        println!("wrong password: plain {plain:?}, hashed {hashed:?}");
        // Only ever slowed down by load: a plain check that is fast (it took microseconds
        // before) shows through; a loaded machine cannot make it look fast.
        assert!(ratio > 0.2, "plain {plain:?} hashed {hashed:?}");
    }

    #[test]
    fn missing_file_is_created_empty() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("new.txt");
        assert!(load(&p).unwrap().is_empty());
        assert!(p.exists());
    }
}

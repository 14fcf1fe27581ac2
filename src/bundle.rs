//! The support bundle's format, pure: files scrubbed of secrets, then written as one POSIX
//! ustar archive (any `tar` reads it; no compression crate needed for a few hundred KB).

/// What replaces a secret value found in a file.
pub const REDACTED: &str = "[redacted by esk]";

/// Secret values this long or longer are removed wherever they appear, even inside a longer
/// word: esk's generated passwords and keys are far longer, and so random that a match is
/// the secret.
const ANYWHERE_LEN: usize = 8;

/// The shortest secret value searched for, as a whole token only (not next to a letter or
/// digit), so a user's short password (`hunter2`) is removed from `password hunter2` while
/// `admin` inside `administrator` stays. Shorter values cannot be: a value of one to three
/// characters (`1`, `ops`, `abc`) stands as a whole token for numbers, log levels, units and
/// user names all over the logs and JSON, and blanking those would mangle the timestamps,
/// counts and names the archive is for (and such a value is guessed in a few thousand tries:
/// it keeps no secret). `esk report` says when a Secret holds one.
pub const MIN_SECRET_LEN: usize = 4;

/// Removes from `text` every PEM private key block (whatever its label: `PRIVATE KEY`,
/// `RSA PRIVATE KEY`, `EC PRIVATE KEY`, `ENCRYPTED PRIVATE KEY`) and every one of `secrets`
/// of at least [`MIN_SECRET_LEN`] characters, also as its base64 and JSON-escaped forms:
/// anywhere from [`ANYWHERE_LEN`] characters on, as a whole token below that.
pub fn scrub(text: &str, secrets: &[String]) -> String {
    let mut out = strip_private_keys(text);
    // (needle, anywhere)
    let mut needles: Vec<(String, bool)> = Vec::new();
    for s in secrets.iter().filter(|s| s.len() >= MIN_SECRET_LEN) {
        let anywhere = s.len() >= ANYWHERE_LEN;
        needles.push((s.clone(), anywhere));
        needles.push((base64_of(s.as_bytes()), anywhere));
        // A value inside JSON is escaped; the escaped form is searched too.
        let escaped = serde_json::to_string(s).unwrap_or_default();
        needles.push((escaped.trim_matches('"').to_string(), anywhere));
    }
    // Longest first, so a value that contains another is removed whole.
    needles.sort_by_key(|(n, _)| std::cmp::Reverse(n.len()));
    needles.dedup();
    for (n, anywhere) in needles.iter().filter(|(n, _)| n.len() >= MIN_SECRET_LEN) {
        out = if *anywhere {
            out.replace(n.as_str(), REDACTED)
        } else {
            replace_tokens(&out, n)
        };
    }
    out
}

/// Replaces each occurrence of `needle` that no letter or digit touches on either side.
fn replace_tokens(text: &str, needle: &str) -> String {
    let word = |c: Option<char>| c.is_some_and(char::is_alphanumeric);
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    for (at, _) in text.match_indices(needle) {
        let end = at + needle.len();
        if word(text[..at].chars().next_back()) || word(text[end..].chars().next()) {
            continue;
        }
        out.push_str(&text[last..at]);
        out.push_str(REDACTED);
        last = end;
    }
    out.push_str(&text[last..]);
    out
}

fn base64_of(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn strip_private_keys(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("-----BEGIN ") {
        let label_start = start + 11;
        let label = rest[label_start..]
            .find("-----")
            .map_or(&rest[label_start..], |e| {
                &rest[label_start..label_start + e]
            });
        if !label.contains("PRIVATE KEY") {
            out.push_str(&rest[..start + 11]);
            rest = &rest[start + 11..];
            continue;
        }
        out.push_str(&rest[..start]);
        out.push_str(REDACTED);
        let after = &rest[start..];
        // To the end marker (and its closing dashes), or to the end when it is cut off.
        rest = match after.find("-----END ") {
            Some(e) => {
                let tail = &after[e + 9..];
                match tail.find("-----") {
                    Some(d) => &tail[d + 5..],
                    None => "",
                }
            }
            None => "",
        };
    }
    out.push_str(rest);
    out
}

/// A ustar archive being written in memory.
#[derive(Default)]
pub struct Tar {
    bytes: Vec<u8>,
}

impl Tar {
    /// Adds a regular file (mode 0644, owned by uid/gid 0) at `path` (at most 100 bytes, or
    /// 255 split at a `/` into ustar's prefix and name).
    pub fn add(&mut self, path: &str, mtime: u64, data: &[u8]) -> Result<(), String> {
        let (prefix, name) = split_path(path).ok_or_else(|| format!("path too long: {path}"))?;
        let mut header = [0u8; 512];
        put(&mut header[0..100], name.as_bytes());
        put(&mut header[100..108], b"0000644\0");
        put(&mut header[108..116], b"0000000\0");
        put(&mut header[116..124], b"0000000\0");
        put(
            &mut header[124..136],
            format!("{:011o}\0", data.len()).as_bytes(),
        );
        put(&mut header[136..148], format!("{mtime:011o}\0").as_bytes());
        header[148..156].copy_from_slice(b"        ");
        header[156] = b'0';
        put(&mut header[257..265], b"ustar\x0000");
        put(&mut header[265..269], b"root");
        put(&mut header[297..301], b"root");
        put(&mut header[345..500], prefix.as_bytes());
        let sum: u32 = header.iter().map(|b| u32::from(*b)).sum();
        put(&mut header[148..156], format!("{sum:06o}\0 ").as_bytes());
        self.bytes.extend_from_slice(&header);
        self.bytes.extend_from_slice(data);
        let pad = (512 - data.len() % 512) % 512;
        self.bytes.extend(std::iter::repeat_n(0u8, pad));
        Ok(())
    }

    /// The archive, closed by its two zero blocks.
    pub fn finish(mut self) -> Vec<u8> {
        self.bytes.extend(std::iter::repeat_n(0u8, 1024));
        self.bytes
    }
}

fn put(field: &mut [u8], value: &[u8]) {
    field[..value.len()].copy_from_slice(value);
}

fn split_path(path: &str) -> Option<(&str, &str)> {
    if path.len() <= 100 {
        return Some(("", path));
    }
    let cut = path[..path.len().min(156)].rfind('/')?;
    let (prefix, name) = (&path[..cut], &path[cut + 1..]);
    (prefix.len() <= 155 && !name.is_empty() && name.len() <= 100).then_some((prefix, name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_keys_and_secret_values_are_removed_in_every_form() {
        let key = "-----BEGIN RSA PRIVATE KEY-----\nMIIabc\n-----END RSA PRIVATE KEY-----\n";
        let cert = "-----BEGIN CERTIFICATE-----\nMIIcert\n-----END CERTIFICATE-----\n";
        let text = format!(
            "a {cert}b {key}c pw=s3cret-Pass\"x d {} e",
            base64_of(b"s3cret-Pass\"x")
        );
        let out = scrub(&text, &["s3cret-Pass\"x".into()]);
        assert!(
            !out.contains("MIIabc") && !out.contains("PRIVATE KEY"),
            "{out}"
        );
        assert!(out.contains("MIIcert"), "certificates stay: {out}");
        assert!(!out.contains("s3cret"), "{out}");
        assert!(!out.contains(&base64_of(b"s3cret-Pass\"x")), "{out}");
        let json = serde_json::json!({"k": key}).to_string();
        assert!(!scrub(&json, &[]).contains("MIIabc"));
    }

    #[test]
    fn a_short_password_is_removed_as_a_whole_token_only() {
        let pw = vec!["hunter2".to_string()];
        assert_eq!(
            scrub("login hunter2 ok; pw=hunter2\n\"hunter2\"", &pw),
            "login [redacted by esk] ok; pw=[redacted by esk]\n\"[redacted by esk]\""
        );
        // Part of a longer word: left alone, so the archive is not mangled.
        assert_eq!(scrub("hunter22 xhunter2", &pw), "hunter22 xhunter2");
        assert_eq!(
            scrub(&format!("b64 {} end", base64_of(b"hunter2")), &pw),
            "b64 [redacted by esk] end"
        );
        // Four characters is the shortest searched for; three never are.
        assert_eq!(
            scrub("a word: word", &["word".into()]),
            "a [redacted by esk]: [redacted by esk]"
        );
        assert_eq!(
            scrub("ops 1 abc", &["ops".into(), "abc".into()]),
            "ops 1 abc"
        );
    }

    #[test]
    fn the_archive_is_ustar_with_a_valid_checksum_and_padding() {
        let mut tar = Tar::default();
        tar.add("esk-report/status.json", 0, b"{}\n").unwrap();
        let bytes = tar.finish();
        assert_eq!(bytes.len(), 512 + 512 + 1024);
        assert_eq!(&bytes[257..263], b"ustar\0");
        let mut header = bytes[..512].to_vec();
        let stored =
            u32::from_str_radix(std::str::from_utf8(&header[148..154]).unwrap().trim(), 8).unwrap();
        header[148..156].copy_from_slice(b"        ");
        assert_eq!(stored, header.iter().map(|b| u32::from(*b)).sum::<u32>());
        assert_eq!(&bytes[512..515], b"{}\n");
        let long = format!("{}/{}", "d".repeat(120), "f.txt");
        assert!(Tar::default().add(&long, 0, b"").is_ok());
        assert!(Tar::default().add(&"x".repeat(300), 0, b"").is_err());
    }
}

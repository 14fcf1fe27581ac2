//! What an image reference says: its repository, tag and digest, and whether the repository
//! is the server's.

/// Image names only the server has, wherever the image is hosted (a mirror in a private
/// registry keeps the name).
const SERVER_NAMES: &[&str] = &[
    "eventstoredb",
    "eventstoredb-ce",
    "eventstoredb-ee",
    "eventstoredb-oss",
    "eventstoredb-commercial",
    "kurrentdb",
    "kurrentdb-ee",
];

/// Where EventStore Ltd / Kurrent publish the server: Docker Hub organisations, their own
/// registries, their GitHub organisations on ghcr.io.
const SERVER_ORIGINS: &[&str] = &[
    "eventstore/",
    "kurrent/",
    "docker.eventstore.com/",
    "docker.kurrent.io/",
    "ghcr.io/eventstore/",
    "ghcr.io/kurrent-io/",
];

/// What an image says about its container.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImageKind {
    /// The server: a name only it has, or `eventstore` from the publishers' own places.
    Server,
    /// Named `eventstore` elsewhere (`myorg/eventstore`): as likely an application of
    /// that name; the server only with server settings or a server port.
    Maybe,
    Other,
}

/// Identifies the server image by its repository (see README, "Which containers are nodes").
pub fn image_kind(repository: &str) -> ImageKind {
    let repo = repository.to_ascii_lowercase();
    let repo = ["docker.io/", "index.docker.io/", "registry-1.docker.io/"]
        .iter()
        .find_map(|r| repo.strip_prefix(r))
        .unwrap_or(&repo);
    let repo = repo.strip_prefix("library/").unwrap_or(repo);
    let name = repo.rsplit('/').next().unwrap_or_default();
    if SERVER_NAMES.contains(&name) {
        return ImageKind::Server;
    }
    if name != "eventstore" {
        return ImageKind::Other;
    }
    if SERVER_ORIGINS.iter().any(|o| repo.starts_with(o)) {
        ImageKind::Server
    } else {
        ImageKind::Maybe
    }
}

/// An image reference split into repository, tag and digest.
pub struct ImageRef {
    pub repository: String,
    pub tag: Option<String>,
    pub digest: bool,
}

pub fn image_ref(image: &str) -> ImageRef {
    let (rest, digest) = match image.split_once('@') {
        Some((r, _)) => (r, true),
        None => (image, false),
    };
    // A tag follows the last `:` after the last `/` (a registry may carry a port).
    let slash = rest.rfind('/').map_or(0, |i| i + 1);
    match rest[slash..].rfind(':') {
        Some(colon) => ImageRef {
            repository: rest[..slash + colon].to_string(),
            tag: Some(rest[slash + colon + 1..].to_string()),
            digest,
        },
        None => ImageRef {
            repository: rest.to_string(),
            tag: None,
            digest,
        },
    }
}

#pragma once
// A small PKI for simulated fleets: a local CA, server and per-thing client certificates for mutual TLS,
// and the files they live in (private keys 0600, written atomically).
#include <openssl/types.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "sim/core/expected.hpp"
#include "sim/core/time.hpp"
#include "sim/core/units.hpp"

/// Keys and X.509 certificates over the OpenSSL 3 C API.
///
/// Every function reports failure through Expected with a message that names what failed, the file
/// (if any) and OpenSSL's own error text; nothing here aborts or throws, except std::bad_alloc.
/// All functions may be called from several threads at once.
namespace fleetsim::pki {

/// Success without a value, or an error message.
using Status = Expected<std::monostate>;

/// Deleter for EVP_PKEY handles.
struct EvpPkeyFree {
  void operator()(EVP_PKEY* key) const noexcept;
};
/// Deleter for X509 handles.
struct X509Free {
  void operator()(X509* cert) const noexcept;
};

/// Key algorithms the simulator issues. Both are accepted by AWS IoT and by mosquitto.
enum class KeyAlgorithm {
  ec_p256,   ///< ECDSA on P-256 (prime256v1): fast to generate, the default
  rsa_2048,  ///< RSA 2048: for peers that cannot do ECDSA; generation takes tens of milliseconds
};

/// A private key (with its public half). Copies share one OpenSSL object through its reference count,
/// so passing a KeyPair around is cheap. A moved-from KeyPair is empty: only assign to it or destroy it.
class KeyPair {
 public:
  /// Takes ownership of `key`, which must not be null.
  explicit KeyPair(EVP_PKEY* key) noexcept;
  KeyPair(const KeyPair& other) noexcept;
  KeyPair& operator=(const KeyPair& other) noexcept;
  KeyPair(KeyPair&&) noexcept = default;
  KeyPair& operator=(KeyPair&&) noexcept = default;
  ~KeyPair() = default;

  /// A fresh key from OpenSSL's CSPRNG.
  static Expected<KeyPair> generate(KeyAlgorithm algorithm = KeyAlgorithm::ec_p256);
  /// The first private key in `pem` (PKCS#8 `PRIVATE KEY`, `EC PRIVATE KEY` or `RSA PRIVATE KEY`).
  /// Encrypted keys are refused rather than prompting for a passphrase on the terminal.
  static Expected<KeyPair> from_pem(std::string_view pem);

  /// Unencrypted PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`), as mosquitto and the AWS SDKs read it;
  /// empty if the KeyPair is empty.
  std::string to_pem() const;
  /// The underlying OpenSSL object, still owned by this KeyPair.
  EVP_PKEY* get() const noexcept { return key_.get(); }

 private:
  std::unique_ptr<EVP_PKEY, EvpPkeyFree> key_;
};

/// An X.509 certificate. Copies share one OpenSSL object through its reference count.
/// A moved-from Certificate is empty: only assign to it or destroy it.
class Certificate {
 public:
  /// Takes ownership of `cert`, which must not be null.
  explicit Certificate(X509* cert) noexcept;
  Certificate(const Certificate& other) noexcept;
  Certificate& operator=(const Certificate& other) noexcept;
  Certificate(Certificate&&) noexcept = default;
  Certificate& operator=(Certificate&&) noexcept = default;
  ~Certificate() = default;

  /// The first certificate in `pem` (`-----BEGIN CERTIFICATE-----`).
  static Expected<Certificate> from_pem(std::string_view pem);

  /// PEM (`-----BEGIN CERTIFICATE-----`); empty if the Certificate is empty.
  std::string to_pem() const;
  /// Lower-case hex SHA-256 of the DER encoding (64 characters, no colons): the same value as
  /// `openssl x509 -fingerprint -sha256`, and the form AWS IoT uses as a certificate id.
  std::string fingerprint_sha256() const;
  /// The subject's common name (for a thing certificate, the thing name); empty if there is none.
  std::string common_name() const;
  /// The subjectAltName DNS names and IP addresses as text (`localhost`, `127.0.0.1`, `::1`), in order.
  std::vector<std::string> subject_alt_names() const;
  /// The serial number in lower-case hex.
  std::string serial_hex() const;
  /// Start of the validity period.
  EpochMillis not_before() const;
  /// End of the validity period.
  EpochMillis not_after() const;
  /// True when basicConstraints says CA:TRUE.
  bool is_ca() const;
  /// True when `key` is the private key for this certificate's public key.
  bool matches(const KeyPair& key) const;
  /// The underlying OpenSSL object, still owned by this Certificate.
  X509* get() const noexcept { return cert_.get(); }

 private:
  std::unique_ptr<X509, X509Free> cert_;
};

/// A certificate together with its private key.
struct CertifiedKey {
  Certificate certificate;
  KeyPair key;
};

/// Validity of a CA made by create_ca or ensure_local_ca.
inline constexpr Millis default_ca_validity = std::chrono::days{3650};
/// Validity of server and thing certificates (always cut to the issuing CA's own end).
inline constexpr Millis default_leaf_validity = std::chrono::days{1825};

/// How to issue a server or thing certificate.
struct IssueOptions {
  /// How long the certificate is valid from now; never beyond the CA's own end of validity.
  Millis validity = default_leaf_validity;
  /// The algorithm of a freshly generated key (ignored when `key` is set).
  KeyAlgorithm algorithm = KeyAlgorithm::ec_p256;
  /// Certify this key instead of generating one; each certificate still has its own serial and fingerprint.
  /// This skips key generation (~25 us), but with OpenSSL 3.0 most of the ~250 us per certificate goes to
  /// encoding the public key into it, so sharing a key saves only about a tenth.
  std::optional<KeyPair> key;
};

/// A self-signed CA: basicConstraints CA:TRUE (critical), keyUsage keyCertSign and cRLSign (critical),
/// subject and authority key identifiers. `common_name` must be 1–64 bytes.
Expected<CertifiedKey> create_ca(std::string_view common_name, Millis validity = default_ca_validity,
                                 KeyAlgorithm algorithm = KeyAlgorithm::ec_p256);

/// A TLS server certificate signed by `ca`: extendedKeyUsage serverAuth, and a subjectAltName for each entry
/// of `sans` — an IPv4 or IPv6 address (`127.0.0.1`, `::1`) or else a DNS name (`localhost`,
/// `*.example.com`). At least one SAN is required, because TLS clients match host names against SANs only.
Expected<CertifiedKey> issue_server_certificate(const Certificate& ca, const KeyPair& ca_key,
                                                std::string_view common_name, const std::vector<std::string>& sans,
                                                const IssueOptions& options = {});

/// A TLS client certificate for one thing, signed by `ca`: subject CN = `common_name` (the thing name,
/// 1–64 bytes), extendedKeyUsage clientAuth.
Expected<CertifiedKey> issue_client_certificate(const Certificate& ca, const KeyPair& ca_key,
                                                std::string_view common_name, const IssueOptions& options = {});

/// Writes `key` as PEM to `path` with mode exactly 0600, atomically: the bytes go to a temporary file in the
/// same directory that is created 0600, fsynced, then renamed over `path`. Readers never see a partial key,
/// the key is never readable by others (not even briefly), and a link at `path` is replaced, not followed.
Status write_private_key(const std::filesystem::path& path, const KeyPair& key);
/// Writes `cert` as PEM to `path` with mode exactly 0644, atomically (as write_private_key).
Status write_certificate(const std::filesystem::path& path, const Certificate& cert);
/// Reads the private key in the PEM file at `path`.
Expected<KeyPair> load_private_key(const std::filesystem::path& path);
/// Reads the first certificate in the PEM file at `path`.
Expected<Certificate> load_certificate(const std::filesystem::path& path);

/// The local CA in `dir` (`dir/ca.pem`, `dir/ca.key`): loaded if both files exist, else created (and `dir`
/// with mode 0700 if it is missing); `common_name` is used only when creating. Fails, changing nothing, if
/// only one of the two exists, if they do not belong together, or if the CA has expired; the message says
/// which file to delete. Files are fsynced. Safe against other processes and threads doing the same at the
/// same time (the directory is locked with flock).
Expected<CertifiedKey> ensure_local_ca(const std::filesystem::path& dir,
                                       std::string_view common_name = "fleetsim local CA");

/// The client certificate of `thing_name` in `dir` (`dir/<thing>.pem` 0644, `dir/<thing>.key` 0600): loaded
/// if both exist, else issued by `ca` and written. Idempotent: existing files are never rewritten. Fails if
/// only one file exists, or if the existing certificate does not verify against `ca` (e.g. the CA was
/// regenerated) or has expired; the message says which files to delete. Unlike the CA, the files are not
/// fsynced (it would dominate the cost of a large fleet); an empty file, all a crash can typically leave,
/// counts as missing. Locks `dir` like ensure_local_ca. `thing_name` must be an AWS IoT
/// thing name (letters, digits, `:`, `_`, `-`) of at most 64 bytes, the longest common name X.509 allows.
Expected<CertifiedKey> ensure_thing_certificate(const std::filesystem::path& dir, const Certificate& ca,
                                                const KeyPair& ca_key, std::string_view thing_name,
                                                const IssueOptions& options = {});

}  // namespace fleetsim::pki

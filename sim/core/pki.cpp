#include "sim/core/pki.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <cctype>
#include <cerrno>
#include <climits>
#include <ctime>
#include <new>
#include <system_error>
#include <utility>

namespace fleetsim::pki {

void EvpPkeyFree::operator()(EVP_PKEY* key) const noexcept { EVP_PKEY_free(key); }
void X509Free::operator()(X509* cert) const noexcept { X509_free(cert); }

namespace {

namespace fs = std::filesystem;

template <class T, void (*Free)(T*)>
struct Deleter {
  void operator()(T* p) const noexcept { Free(p); }
};
using BioPtr = std::unique_ptr<BIO, Deleter<BIO, BIO_free_all>>;
using BignumPtr = std::unique_ptr<BIGNUM, Deleter<BIGNUM, BN_free>>;
using GeneralNamesPtr = std::unique_ptr<GENERAL_NAMES, Deleter<GENERAL_NAMES, GENERAL_NAMES_free>>;
using GeneralNamePtr = std::unique_ptr<GENERAL_NAME, Deleter<GENERAL_NAME, GENERAL_NAME_free>>;
using ExtensionPtr = std::unique_ptr<X509_EXTENSION, Deleter<X509_EXTENSION, X509_EXTENSION_free>>;
using StorePtr = std::unique_ptr<X509_STORE, Deleter<X509_STORE, X509_STORE_free>>;
using StoreCtxPtr = std::unique_ptr<X509_STORE_CTX, Deleter<X509_STORE_CTX, X509_STORE_CTX_free>>;

// Nothing we read (a key or a certificate) is anywhere near this; a bigger file is a wrong path.
constexpr std::size_t max_pem_bytes = 1 << 20;
// X.509's upper bound for a common name (RFC 5280 ub-common-name).
constexpr std::size_t max_common_name = 64;

/// Drains OpenSSL's (thread-local) error queue into one line.
std::string openssl_errors() {
  std::string out;
  char buffer[256];
  while (unsigned long code = ERR_get_error()) {
    ERR_error_string_n(code, buffer, sizeof buffer);
    if (!out.empty()) out += "; ";
    out += buffer;
  }
  return out.empty() ? "no OpenSSL error reported" : out;
}

Unexpected openssl_failure(const std::string& what) { return unexpected(what + ": " + openssl_errors()); }

Unexpected system_failure(const std::string& what, int error_number) {
  return unexpected(what + ": " + std::generic_category().message(error_number));
}

std::string quoted(const fs::path& path) { return "'" + path.string() + "'"; }

std::string to_lower_hex(const unsigned char* bytes, std::size_t n) {
  static constexpr char hex[] = "0123456789abcdef";
  std::string out;
  out.reserve(n * 2);
  for (std::size_t i = 0; i < n; ++i) {
    out += hex[bytes[i] >> 4];
    out += hex[bytes[i] & 15];
  }
  return out;
}

std::string bio_contents(BIO* bio) {
  char* data = nullptr;
  long n = BIO_get_mem_data(bio, &data);
  return std::string(data, static_cast<std::size_t>(n > 0 ? n : 0));
}

BioPtr new_memory_bio() {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio) throw std::bad_alloc();
  return bio;
}

Expected<BioPtr> read_only_bio(std::string_view bytes, std::string_view what) {
  if (bytes.size() > max_pem_bytes)
    return unexpected("cannot read " + std::string(what) + ": " + std::to_string(bytes.size()) +
                      " bytes is too large for PEM (at most " + std::to_string(max_pem_bytes) + ")");
  // An empty string_view may hold a null pointer, which BIO_new_mem_buf rejects; "" reads as empty just the same.
  BioPtr bio(BIO_new_mem_buf(bytes.empty() ? "" : bytes.data(), static_cast<int>(bytes.size())));
  if (!bio) throw std::bad_alloc();
  return bio;
}

EpochMillis epoch_millis(const ASN1_TIME* time) {
  std::tm tm{};
  if (time == nullptr || ASN1_TIME_to_tm(time, &tm) != 1) return 0;
  using namespace std::chrono;
  const sys_days date = year{tm.tm_year + 1900} / month{static_cast<unsigned>(tm.tm_mon + 1)} /
                        day{static_cast<unsigned>(tm.tm_mday)};
  const auto t = date + hours{tm.tm_hour} + minutes{tm.tm_min} + seconds{tm.tm_sec};
  return duration_cast<milliseconds>(t.time_since_epoch()).count();
}

// ----------------------------------------------------------------------------------------------------------------
// Building certificates

enum class Profile { ca, server, client };

std::string_view profile_name(Profile p) {
  switch (p) {
    case Profile::ca: return "CA";
    case Profile::server: return "server certificate";
    case Profile::client: return "client certificate";
  }
  return "certificate";
}

Status check_common_name(std::string_view cn) {
  if (cn.empty()) return unexpected("the common name is empty");
  if (cn.size() > max_common_name)
    return unexpected("the common name '" + std::string(cn) + "' is " + std::to_string(cn.size()) +
                      " bytes; X.509 allows at most " + std::to_string(max_common_name));
  if (cn.find('\0') != std::string_view::npos) return unexpected("the common name contains a NUL byte");
  return std::monostate{};
}

// A random positive serial of up to 128 bits: unpredictable serials are what RFC 5280 and the CA/B forum ask for,
// and they make two certificates for the same thing distinguishable.
Status set_random_serial(X509* cert) {
  BignumPtr bn(BN_new());
  if (!bn) throw std::bad_alloc();
  do {
    if (BN_rand(bn.get(), 128, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) != 1)
      return openssl_failure("cannot draw a random serial number");
  } while (BN_is_zero(bn.get()));
  if (!BN_to_ASN1_INTEGER(bn.get(), X509_get_serialNumber(cert)))
    return openssl_failure("cannot set the serial number");
  return std::monostate{};
}

Status set_validity(X509* cert, Millis validity, const X509* issuer) {
  if (validity.count() <= 0) return unexpected("the validity period must be positive");
  const long long total = std::chrono::duration_cast<std::chrono::seconds>(validity).count();
  const long long days = total / 86400;
  if (days > INT_MAX) return unexpected("the validity period is too long");
  // Backdated a little so a peer whose clock is slightly behind ours does not reject a brand-new certificate.
  if (!X509_gmtime_adj(X509_getm_notBefore(cert), -300) ||
      !X509_time_adj_ex(X509_getm_notAfter(cert), static_cast<int>(days), static_cast<long>(total % 86400), nullptr))
    return openssl_failure("cannot set the validity period");
  // A certificate that outlives its CA fails verification anyway once the CA expires; say so in the certificate.
  if (issuer != nullptr && ASN1_TIME_compare(X509_get0_notAfter(cert), X509_get0_notAfter(issuer)) > 0 &&
      !X509_set1_notAfter(cert, X509_get0_notAfter(issuer)))
    return openssl_failure("cannot set the end of validity");
  return std::monostate{};
}

Status add_extension(X509* cert, X509V3_CTX* ctx, int nid, const char* value) {
  ExtensionPtr ext(X509V3_EXT_conf_nid(nullptr, ctx, nid, value));
  if (!ext || !X509_add_ext(cert, ext.get(), -1))
    return openssl_failure(std::string("cannot add ") + OBJ_nid2ln(nid) + " '" + value + "'");
  return std::monostate{};
}

bool is_dns_name(std::string_view name) {
  if (name.empty() || name.size() > 253) return false;
  if (name.starts_with("*.")) name.remove_prefix(2);  // one leading wildcard label, as browsers accept
  std::size_t label = 0;
  for (char c : name) {
    if (c == '.') {
      if (label == 0) return false;
      label = 0;
      continue;
    }
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
    if (!ok || ++label > 63) return false;
  }
  return label > 0;
}

// Built as GENERAL_NAMES rather than through a "DNS:a,IP:b" config string, so no name can smuggle in syntax.
Status add_subject_alt_names(X509* cert, const std::vector<std::string>& sans) {
  GeneralNamesPtr names(GENERAL_NAMES_new());
  if (!names) throw std::bad_alloc();
  for (const std::string& san : sans) {
    GeneralNamePtr name(GENERAL_NAME_new());
    if (!name) throw std::bad_alloc();
    if (ASN1_OCTET_STRING* ip = a2i_IPADDRESS(san.c_str())) {
      GENERAL_NAME_set0_value(name.get(), GEN_IPADD, ip);
    } else {
      ERR_clear_error();  // a2i_IPADDRESS may leave an error for "not an address"; that is our DNS case
      if (!is_dns_name(san))
        return unexpected("subject alternative name '" + san + "' is neither an IP address nor a DNS name");
      ASN1_IA5STRING* dns = ASN1_IA5STRING_new();
      if (!dns || !ASN1_STRING_set(dns, san.data(), static_cast<int>(san.size()))) {
        ASN1_IA5STRING_free(dns);
        throw std::bad_alloc();
      }
      GENERAL_NAME_set0_value(name.get(), GEN_DNS, dns);
    }
    if (!sk_GENERAL_NAME_push(names.get(), name.get())) throw std::bad_alloc();
    name.release();  // owned by `names` now
  }
  if (X509_add1_ext_i2d(cert, NID_subject_alt_name, names.get(), 0, X509V3_ADD_DEFAULT) != 1)
    return openssl_failure("cannot add the subjectAltName extension");
  return std::monostate{};
}

/// Checks that `ca_key` belongs to `ca` and that `ca` may sign, so a mix-up fails here with a clear
/// message instead of producing certificates nothing will verify.
Status check_issuer(const Certificate& ca, const KeyPair& ca_key) {
  if (!ca.get() || !ca_key.get()) return unexpected("the CA certificate or key is empty (moved from)");
  if (!ca.is_ca()) return unexpected("'" + ca.common_name() + "' is not a CA certificate (basicConstraints CA:TRUE)");
  if (!ca.matches(ca_key)) return unexpected("the CA key does not belong to CA certificate '" + ca.common_name() + "'");
  if (X509_cmp_time(X509_get0_notAfter(ca.get()), nullptr) < 0)
    return unexpected("CA '" + ca.common_name() + "' expired at " + format_rfc3339(ca.not_after()));
  return std::monostate{};
}

/// Issues a certificate of `profile` for `cn`; `ca`/`ca_key` are null for a self-signed CA.
Expected<CertifiedKey> issue(Profile profile, const Certificate* ca, const KeyPair* ca_key, std::string_view cn,
                             const std::vector<std::string>& sans, Millis validity, KeyAlgorithm algorithm,
                             const std::optional<KeyPair>& reuse_key) {
  ERR_clear_error();  // so the messages below carry only this call's errors
  const std::string context = "cannot issue " + std::string(profile_name(profile)) + " '" + std::string(cn) + "'";
  auto failed = [&](const std::string& why) { return unexpected(context + ": " + why); };

  if (auto ok = check_common_name(cn); !ok) return failed(ok.error());
  if (ca != nullptr) {
    if (auto ok = check_issuer(*ca, *ca_key); !ok) return failed(ok.error());
  }
  if (profile == Profile::server && sans.empty())
    return failed("a server certificate needs at least one subject alternative name (TLS clients ignore the CN)");
  if (reuse_key && !reuse_key->get()) return failed("the key to reuse is empty (moved from)");

  std::optional<KeyPair> key = reuse_key;
  if (!key) {
    auto generated = KeyPair::generate(algorithm);
    if (!generated) return failed(generated.error());
    key = std::move(generated.value());
  }

  X509* raw = X509_new();
  if (!raw) throw std::bad_alloc();
  Certificate cert(raw);
  X509* x = cert.get();
  X509* issuer = ca != nullptr ? ca->get() : x;
  EVP_PKEY* signer = ca_key != nullptr ? ca_key->get() : key->get();

  if (!X509_set_version(x, X509_VERSION_3)) return openssl_failure(context);
  if (auto ok = set_random_serial(x); !ok) return failed(ok.error());
  X509_NAME* subject = X509_get_subject_name(x);
  if (!X509_NAME_add_entry_by_NID(subject, NID_commonName, MBSTRING_UTF8,
                                  reinterpret_cast<const unsigned char*>(cn.data()), static_cast<int>(cn.size()), -1, 0))
    return openssl_failure(context + ": cannot set the subject");
  if (!X509_set_issuer_name(x, X509_get_subject_name(issuer)))
    return openssl_failure(context + ": cannot set the issuer");
  if (auto ok = set_validity(x, validity, ca != nullptr ? ca->get() : nullptr); !ok) return failed(ok.error());
  if (!X509_set_pubkey(x, key->get())) return openssl_failure(context + ": cannot set the public key");

  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, issuer, x, nullptr, nullptr, 0);
  const bool rsa = EVP_PKEY_is_a(key->get(), "RSA") == 1;
  struct Ext {
    int nid;
    const char* value;
  };
  std::vector<Ext> exts;
  if (profile == Profile::ca) {
    exts = {{NID_basic_constraints, "critical,CA:TRUE"},
            {NID_key_usage, "critical,keyCertSign,cRLSign"},
            {NID_subject_key_identifier, "hash"},
            {NID_authority_key_identifier, "keyid:always"}};
  } else {
    // keyEncipherment only for RSA: TLS 1.2 RSA key exchange encrypts to the key; ECDSA keys only sign.
    exts = {{NID_basic_constraints, "critical,CA:FALSE"},
            {NID_key_usage, rsa ? "critical,digitalSignature,keyEncipherment" : "critical,digitalSignature"},
            {NID_ext_key_usage, profile == Profile::server ? "serverAuth" : "clientAuth"},
            {NID_subject_key_identifier, "hash"},
            {NID_authority_key_identifier, "keyid:always"}};
  }
  for (const Ext& e : exts)
    if (auto ok = add_extension(x, &ctx, e.nid, e.value); !ok) return failed(ok.error());
  if (profile == Profile::server)
    if (auto ok = add_subject_alt_names(x, sans); !ok) return failed(ok.error());

  if (X509_sign(x, signer, EVP_sha256()) <= 0) return openssl_failure(context + ": signing failed");
  return CertifiedKey{std::move(cert), std::move(*key)};
}

// ----------------------------------------------------------------------------------------------------------------
// Files

/// Writes `bytes` to `path` through a temporary file created 0600 in the same directory, then renamed.
/// `durable`: fsync before the rename, so a crash cannot leave an empty file under the final name.
Status write_file_atomically(const fs::path& path, std::string_view bytes, mode_t mode, const std::string& what,
                             bool durable) {
  const std::string context = "cannot write " + what + " to " + quoted(path);
  const fs::path dir = path.has_parent_path() ? path.parent_path() : fs::path(".");
  if (!path.has_filename()) return unexpected(context + ": the path names a directory");

  fs::path temp;
  int fd = -1;
  for (int attempt = 0; fd < 0; ++attempt) {
    unsigned char suffix[6];
    if (RAND_bytes(suffix, sizeof suffix) != 1) return openssl_failure(context + ": no random temporary name");
    temp = dir / ("." + path.filename().string() + ".tmp-" + to_lower_hex(suffix, sizeof suffix));
    // Created 0600 from the start (O_EXCL: a fresh file, O_NOFOLLOW: not through a planted link), so a key
    // is never readable by anyone else, not even between open and chmod.
    fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0 && (errno != EEXIST || attempt >= 10)) return system_failure(context + ": cannot create " + quoted(temp), errno);
  }
  auto abandon = [&](const std::string& step, int error_number) {
    ::close(fd);
    ::unlink(temp.c_str());
    return system_failure(context + ": " + step, error_number);
  };
  // The umask may have removed bits from 0600 (or we want 0644); set exactly what was asked.
  if (::fchmod(fd, mode) != 0) return abandon("fchmod failed", errno);
  for (std::size_t done = 0; done < bytes.size();) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return abandon("write failed", errno);
    done += static_cast<std::size_t>(n);
  }
  if (durable && ::fsync(fd) != 0) return abandon("fsync failed", errno);
  if (::close(fd) != 0) {
    const int e = errno;
    ::unlink(temp.c_str());
    return system_failure(context + ": close failed", e);
  }
  if (::rename(temp.c_str(), path.c_str()) != 0) {
    const int e = errno;
    ::unlink(temp.c_str());
    return system_failure(context + ": rename from " + quoted(temp) + " failed", e);
  }
  return std::monostate{};
}

Expected<std::string> read_small_file(const fs::path& path, const std::string& what) {
  const std::string context = "cannot read " + what + " from " + quoted(path);
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return system_failure(context, errno);
  std::string out;
  char buffer[8192];
  for (;;) {
    const ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int e = errno;
      ::close(fd);
      return system_failure(context, e);
    }
    if (n == 0) break;
    out.append(buffer, static_cast<std::size_t>(n));
    if (out.size() > max_pem_bytes) {
      ::close(fd);
      return unexpected(context + ": larger than " + std::to_string(max_pem_bytes) + " bytes; is this the right file?");
    }
  }
  ::close(fd);
  return out;
}

/// Creates `dir` with mode 0700 if missing (parents with the default mode).
Status ensure_directory(const fs::path& dir) {
  std::error_code ec;
  if (dir.has_parent_path()) {
    fs::create_directories(dir.parent_path(), ec);
    if (ec) return unexpected("cannot create directory " + quoted(dir.parent_path()) + ": " + ec.message());
  }
  if (::mkdir(dir.c_str(), 0700) == 0) {
    if (::chmod(dir.c_str(), 0700) != 0) return system_failure("cannot chmod directory " + quoted(dir), errno);
    return std::monostate{};
  }
  if (errno != EEXIST) return system_failure("cannot create directory " + quoted(dir), errno);
  if (!fs::is_directory(dir, ec)) return unexpected("cannot use " + quoted(dir) + " for certificates: not a directory");
  return std::monostate{};
}

/// An exclusive flock on a directory, so two processes (or threads) ensuring the same files do not pair one's
/// key with the other's certificate.
class DirectoryLock {
 public:
  static Expected<DirectoryLock> acquire(const fs::path& dir) {
    const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return system_failure("cannot open directory " + quoted(dir) + " to lock it", errno);
    while (::flock(fd, LOCK_EX) != 0) {
      if (errno == EINTR) continue;
      const int e = errno;
      ::close(fd);
      return system_failure("cannot lock directory " + quoted(dir), e);
    }
    return DirectoryLock(fd);
  }
  DirectoryLock(DirectoryLock&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  DirectoryLock& operator=(DirectoryLock&&) = delete;
  ~DirectoryLock() {
    if (fd_ >= 0) ::close(fd_);  // closing releases the flock
  }

 private:
  explicit DirectoryLock(int fd) : fd_(fd) {}
  int fd_;
};

Status write_key_file(const fs::path& path, const KeyPair& key, bool durable) {
  if (!key.get()) return unexpected("cannot write private key to " + quoted(path) + ": the key is empty (moved from)");
  std::string pem = key.to_pem();
  if (pem.empty()) return unexpected("cannot write private key to " + quoted(path) + ": PEM encoding failed");
  Status result = write_file_atomically(path, pem, 0600, "private key", durable);
  OPENSSL_cleanse(pem.data(), pem.size());  // do not leave the key in freed heap memory
  return result;
}

Status write_certificate_file(const fs::path& path, const Certificate& cert, bool durable) {
  const std::string pem = cert.to_pem();
  if (pem.empty()) return unexpected("cannot write certificate to " + quoted(path) + ": PEM encoding failed");
  return write_file_atomically(path, pem, 0644, "certificate", durable);
}

enum class Presence { none, both, only_key, only_cert };

/// Whether the file exists with content. We never write an empty file, so an empty one is what a crash left of
/// a write that was not fsynced; it counts as missing and is replaced.
Expected<bool> has_content(const fs::path& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0) return st.st_size > 0;
  if (errno == ENOENT) return false;
  return system_failure("cannot look for " + quoted(path), errno);
}

Expected<Presence> presence(const fs::path& key_path, const fs::path& cert_path) {
  auto key = has_content(key_path);
  if (!key) return unexpected(key.error());
  auto cert = has_content(cert_path);
  if (!cert) return unexpected(cert.error());
  if (*key && *cert) return Presence::both;
  if (*key) return Presence::only_key;
  if (*cert) return Presence::only_cert;
  return Presence::none;
}

Expected<CertifiedKey> load_pair(const fs::path& key_path, const fs::path& cert_path) {
  auto cert = load_certificate(cert_path);
  if (!cert) return unexpected(cert.error());
  auto key = load_private_key(key_path);
  if (!key) return unexpected(key.error());
  if (!cert->matches(*key))
    return unexpected("the key in " + quoted(key_path) + " does not belong to the certificate in " + quoted(cert_path) +
                      "; delete both to create new ones");
  return CertifiedKey{std::move(cert.value()), std::move(key.value())};
}

Status write_pair(const fs::path& key_path, const fs::path& cert_path, const CertifiedKey& pair, bool durable) {
  if (auto ok = write_key_file(key_path, pair.key, durable); !ok) return ok;
  return write_certificate_file(cert_path, pair.certificate, durable);
}

std::string lone_file_message(Presence p, const fs::path& key_path, const fs::path& cert_path) {
  const fs::path& present = p == Presence::only_key ? key_path : cert_path;
  const fs::path& missing = p == Presence::only_key ? cert_path : key_path;
  return "found " + quoted(present) + " but not " + quoted(missing) + "; delete " + quoted(present) +
         " to create a new pair";
}

/// Full chain verification of `cert` against `ca` alone, as a TLS peer would do it.
Status verify_against(const Certificate& cert, const Certificate& ca, int purpose) {
  StorePtr store(X509_STORE_new());
  StoreCtxPtr ctx(X509_STORE_CTX_new());
  if (!store || !ctx) throw std::bad_alloc();
  if (!X509_STORE_add_cert(store.get(), ca.get()) || !X509_STORE_CTX_init(ctx.get(), store.get(), cert.get(), nullptr) ||
      !X509_STORE_CTX_set_purpose(ctx.get(), purpose))
    return openssl_failure("cannot set up certificate verification");
  if (X509_verify_cert(ctx.get()) == 1) return std::monostate{};
  ERR_clear_error();  // the verify error below is the informative one
  return unexpected(X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx.get())));
}

bool is_thing_name(std::string_view name) {
  if (name.empty() || name.size() > max_common_name) return false;
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == ':' ||
                    c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

EpochMillis now_millis() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

}  // namespace

// --------------------------------------------------------------------------------------------------------------------
// KeyPair

KeyPair::KeyPair(EVP_PKEY* key) noexcept : key_(key) {}

KeyPair::KeyPair(const KeyPair& other) noexcept {
  if (other.key_ && EVP_PKEY_up_ref(other.key_.get()) == 1) key_.reset(other.key_.get());
}

KeyPair& KeyPair::operator=(const KeyPair& other) noexcept {
  if (this != &other) *this = KeyPair(other);
  return *this;
}

Expected<KeyPair> KeyPair::generate(KeyAlgorithm algorithm) {
  ERR_clear_error();
  EVP_PKEY* key = algorithm == KeyAlgorithm::rsa_2048 ? EVP_RSA_gen(2048) : EVP_EC_gen("P-256");
  if (!key)
    return openssl_failure(algorithm == KeyAlgorithm::rsa_2048 ? "cannot generate an RSA 2048 key"
                                                               : "cannot generate an EC P-256 key");
  return KeyPair(key);
}

Expected<KeyPair> KeyPair::from_pem(std::string_view pem) {
  ERR_clear_error();
  auto bio = read_only_bio(pem, "a private key");
  if (!bio) return unexpected(bio.error());
  // A callback that supplies no passphrase: OpenSSL's default would prompt on the terminal and block.
  pem_password_cb* no_passphrase = [](char*, int, int, void*) { return 0; };
  EVP_PKEY* key = PEM_read_bio_PrivateKey(bio->get(), nullptr, no_passphrase, nullptr);
  if (!key) return openssl_failure("no unencrypted PEM private key found (encrypted keys are not supported)");
  return KeyPair(key);
}

std::string KeyPair::to_pem() const {
  BioPtr bio = new_memory_bio();
  if (!key_ || PEM_write_bio_PrivateKey(bio.get(), key_.get(), nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    ERR_clear_error();
    return {};
  }
  return bio_contents(bio.get());
}

// --------------------------------------------------------------------------------------------------------------------
// Certificate

Certificate::Certificate(X509* cert) noexcept : cert_(cert) {}

Certificate::Certificate(const Certificate& other) noexcept {
  if (other.cert_ && X509_up_ref(other.cert_.get()) == 1) cert_.reset(other.cert_.get());
}

Certificate& Certificate::operator=(const Certificate& other) noexcept {
  if (this != &other) *this = Certificate(other);
  return *this;
}

Expected<Certificate> Certificate::from_pem(std::string_view pem) {
  ERR_clear_error();
  auto bio = read_only_bio(pem, "a certificate");
  if (!bio) return unexpected(bio.error());
  X509* cert = PEM_read_bio_X509(bio->get(), nullptr, nullptr, nullptr);
  if (!cert) return openssl_failure("no PEM certificate found");
  return Certificate(cert);
}

std::string Certificate::to_pem() const {
  BioPtr bio = new_memory_bio();
  if (!cert_ || PEM_write_bio_X509(bio.get(), cert_.get()) != 1) {
    ERR_clear_error();
    return {};
  }
  return bio_contents(bio.get());
}

std::string Certificate::fingerprint_sha256() const {
  if (!cert_) return {};
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (X509_digest(cert_.get(), EVP_sha256(), digest, &length) != 1) {
    ERR_clear_error();
    return {};
  }
  return to_lower_hex(digest, length);
}

std::string Certificate::common_name() const {
  if (!cert_) return {};
  const X509_NAME* subject = X509_get_subject_name(cert_.get());
  const int index = X509_NAME_get_index_by_NID(subject, NID_commonName, -1);
  if (index < 0) return {};
  const ASN1_STRING* data = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, index));
  unsigned char* utf8 = nullptr;
  const int n = ASN1_STRING_to_UTF8(&utf8, data);
  if (n < 0) {
    ERR_clear_error();
    return {};
  }
  std::string out(reinterpret_cast<const char*>(utf8), static_cast<std::size_t>(n));
  OPENSSL_free(utf8);
  return out;
}

std::vector<std::string> Certificate::subject_alt_names() const {
  std::vector<std::string> out;
  if (!cert_) return out;
  GeneralNamesPtr names(static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert_.get(), NID_subject_alt_name, nullptr, nullptr)));
  if (!names) return out;
  for (int i = 0; i < sk_GENERAL_NAME_num(names.get()); ++i) {
    const GENERAL_NAME* name = sk_GENERAL_NAME_value(names.get(), i);
    int type = 0;
    const auto* value = static_cast<const ASN1_STRING*>(GENERAL_NAME_get0_value(name, &type));
    const unsigned char* bytes = ASN1_STRING_get0_data(value);
    const int length = ASN1_STRING_length(value);
    if (type == GEN_DNS) {
      out.emplace_back(reinterpret_cast<const char*>(bytes), static_cast<std::size_t>(length));
    } else if (type == GEN_IPADD && (length == 4 || length == 16)) {
      char text[INET6_ADDRSTRLEN];
      if (inet_ntop(length == 4 ? AF_INET : AF_INET6, bytes, text, sizeof text)) out.emplace_back(text);
    }
  }
  return out;
}

std::string Certificate::serial_hex() const {
  if (!cert_) return {};
  BignumPtr bn(ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert_.get()), nullptr));
  if (!bn) {
    ERR_clear_error();
    return {};
  }
  char* hex = BN_bn2hex(bn.get());
  if (!hex) throw std::bad_alloc();
  std::string out(hex);
  OPENSSL_free(hex);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

EpochMillis Certificate::not_before() const { return cert_ ? epoch_millis(X509_get0_notBefore(cert_.get())) : 0; }
EpochMillis Certificate::not_after() const { return cert_ ? epoch_millis(X509_get0_notAfter(cert_.get())) : 0; }

bool Certificate::is_ca() const { return cert_ && (X509_get_extension_flags(cert_.get()) & EXFLAG_CA) != 0; }

bool Certificate::matches(const KeyPair& key) const {
  if (!cert_ || !key.get()) return false;
  // EVP_PKEY_eq queues errors for keys of different types; they are an answer here, not a failure.
  ERR_set_mark();
  const bool same = EVP_PKEY_eq(X509_get0_pubkey(cert_.get()), key.get()) == 1;
  ERR_pop_to_mark();
  return same;
}

// --------------------------------------------------------------------------------------------------------------------
// Issuing

Expected<CertifiedKey> create_ca(std::string_view common_name, Millis validity, KeyAlgorithm algorithm) {
  return issue(Profile::ca, nullptr, nullptr, common_name, {}, validity, algorithm, std::nullopt);
}

Expected<CertifiedKey> issue_server_certificate(const Certificate& ca, const KeyPair& ca_key, std::string_view common_name,
                                                const std::vector<std::string>& sans, const IssueOptions& options) {
  return issue(Profile::server, &ca, &ca_key, common_name, sans, options.validity, options.algorithm, options.key);
}

Expected<CertifiedKey> issue_client_certificate(const Certificate& ca, const KeyPair& ca_key, std::string_view common_name,
                                                const IssueOptions& options) {
  return issue(Profile::client, &ca, &ca_key, common_name, {}, options.validity, options.algorithm, options.key);
}

// --------------------------------------------------------------------------------------------------------------------
// Files

Status write_private_key(const fs::path& path, const KeyPair& key) { return write_key_file(path, key, true); }

Status write_certificate(const fs::path& path, const Certificate& cert) {
  return write_certificate_file(path, cert, true);
}

Expected<KeyPair> load_private_key(const fs::path& path) {
  auto pem = read_small_file(path, "private key");
  if (!pem) return unexpected(pem.error());
  auto key = KeyPair::from_pem(*pem);
  OPENSSL_cleanse(pem.value().data(), pem->size());
  if (!key) return unexpected("cannot read private key from " + quoted(path) + ": " + key.error());
  return key;
}

Expected<Certificate> load_certificate(const fs::path& path) {
  auto pem = read_small_file(path, "certificate");
  if (!pem) return unexpected(pem.error());
  auto cert = Certificate::from_pem(*pem);
  if (!cert) return unexpected("cannot read certificate from " + quoted(path) + ": " + cert.error());
  return cert;
}

Expected<CertifiedKey> ensure_local_ca(const fs::path& dir, std::string_view common_name) {
  if (auto ok = ensure_directory(dir); !ok) return unexpected(ok.error());
  auto lock = DirectoryLock::acquire(dir);
  if (!lock) return unexpected(lock.error());
  const fs::path key_path = dir / "ca.key";
  const fs::path cert_path = dir / "ca.pem";
  auto present = presence(key_path, cert_path);
  if (!present) return unexpected(present.error());

  switch (*present) {
    case Presence::both: {
      auto pair = load_pair(key_path, cert_path);
      if (!pair) return pair;
      if (!pair->certificate.is_ca())
        return unexpected(quoted(cert_path) + " is not a CA certificate; delete it and " + quoted(key_path) +
                          " to create a new CA");
      if (pair->certificate.not_after() <= now_millis())
        return unexpected("the local CA in " + quoted(cert_path) + " has expired; delete it and " + quoted(key_path) +
                          " to create a new CA (and reissue the certificates it signed)");
      return pair;
    }
    case Presence::none: {
      auto pair = create_ca(common_name);
      if (!pair) return pair;
      if (auto ok = write_pair(key_path, cert_path, *pair, true); !ok) return unexpected(ok.error());
      return pair;
    }
    default: return unexpected("cannot use the local CA: " + lone_file_message(*present, key_path, cert_path));
  }
}

Expected<CertifiedKey> ensure_thing_certificate(const fs::path& dir, const Certificate& ca, const KeyPair& ca_key,
                                                std::string_view thing_name, const IssueOptions& options) {
  const std::string name(thing_name);
  if (!is_thing_name(thing_name))
    return unexpected("cannot create a certificate for thing '" + name +
                      "': a thing name here is 1-64 letters, digits, ':', '_' or '-'");
  if (auto ok = ensure_directory(dir); !ok) return unexpected(ok.error());
  auto lock = DirectoryLock::acquire(dir);
  if (!lock) return unexpected(lock.error());
  const fs::path key_path = dir / (name + ".key");
  const fs::path cert_path = dir / (name + ".pem");
  auto present = presence(key_path, cert_path);
  if (!present) return unexpected(present.error());

  switch (*present) {
    case Presence::both: {
      auto pair = load_pair(key_path, cert_path);
      if (!pair) return pair;
      const std::string hint = "; delete " + quoted(cert_path) + " and " + quoted(key_path) + " to issue a new one";
      // A CA certificate would verify against itself; make sure this really is a thing's certificate.
      if (pair->certificate.is_ca()) return unexpected(quoted(cert_path) + " is a CA certificate, not a thing's" + hint);
      if (auto ok = verify_against(pair->certificate, ca, X509_PURPOSE_SSL_CLIENT); !ok)
        return unexpected("the certificate in " + quoted(cert_path) + " does not verify against CA '" + ca.common_name() +
                          "' (" + ok.error() + ")" + hint);
      return pair;
    }
    case Presence::none: {
      auto pair = issue_client_certificate(ca, ca_key, thing_name, options);
      if (!pair) return pair;
      // Not fsynced: a fleet has thousands of these and each fsync costs milliseconds, while a crash leaves at
      // worst an empty file, which the next call treats as missing.
      if (auto ok = write_pair(key_path, cert_path, *pair, false); !ok) return unexpected(ok.error());
      return pair;
    }
    default:
      return unexpected("cannot use the certificate of thing '" + name + "': " +
                        lone_file_message(*present, key_path, cert_path));
  }
}

}  // namespace fleetsim::pki

// ClientCredentialsCache (src/quic/client_credentials_cache.h): shared while options and files
// are unchanged, rebuilt when a file changes, errors not cached, bounded by LRU.
#include "quic/client_credentials_cache.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>

#include "rpcnet/certs.h"
#include "support/temp_certificates.h"

namespace rpcnet::quic {
namespace {

struct CertificateDirectory {
  testing::TempCertificateDirectory dir{"rpcnet-credentials-cache"};
  const std::filesystem::path& root = dir.root();
  DevCertificatePaths first = dir.make("first");
  DevCertificatePaths second = dir.make("second");  // another CA
};

ClientTlsOptions trusting(const std::string& trust_path, const std::string& server_name = "localhost") {
  ClientTlsOptions options;
  options.trust_path = trust_path;
  options.server_name = server_name;
  return options;
}

std::int64_t changed_ns(const std::string& path) {
  struct stat info {};
  if (::stat(path.c_str(), &info) != 0) return -1;
  return static_cast<std::int64_t>(info.st_ctim.tv_sec) * 1'000'000'000 + info.st_ctim.tv_nsec;
}

void copy_file(const std::string& from, const std::string& to) {
  std::filesystem::copy_file(from, to, std::filesystem::copy_options::overwrite_existing);
}

TEST(ClientCredentialsCache, TheSameOptionsShareOneCredentialsObject) {
  const CertificateDirectory dir;
  ClientCredentialsCache cache;
  auto a = cache.get(trusting(dir.first.ca_cert));
  auto b = cache.get(trusting(dir.first.ca_cert));
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->get(), b->get());
  EXPECT_EQ(cache.size(), 1u);
}

TEST(ClientCredentialsCache, AnyDifferentOptionGetsCredentialsOfItsOwn) {
  const CertificateDirectory dir;
  ClientCredentialsCache cache;
  auto base = cache.get(trusting(dir.first.ca_cert));
  auto other_name = cache.get(trusting(dir.first.ca_cert, "127.0.0.1"));
  auto other_trust = cache.get(trusting(dir.second.ca_cert));
  ClientTlsOptions mutual = trusting(dir.first.ca_cert);
  mutual.cert_path = dir.first.client_cert;
  mutual.key_path = dir.first.client_key;
  auto with_identity = cache.get(mutual);
  ClientTlsOptions groups = trusting(dir.first.ca_cert);
  groups.groups = {"SECP256R1"};
  auto other_groups = cache.get(groups);
  ASSERT_TRUE(base.ok() && other_name.ok() && other_trust.ok() && with_identity.ok() && other_groups.ok());
  EXPECT_NE(base->get(), other_name->get());
  EXPECT_NE(base->get(), other_trust->get());
  EXPECT_NE(base->get(), with_identity->get());
  EXPECT_NE(base->get(), other_groups->get());
  EXPECT_EQ(cache.size(), 5u);
}

TEST(ClientCredentialsCache, ARewrittenTrustFileYieldsFreshCredentials) {
  const CertificateDirectory dir;
  const std::string trust = (dir.root / "trust.pem").string();
  copy_file(dir.first.ca_cert, trust);
  ClientCredentialsCache cache;
  auto before = cache.get(trusting(trust));
  ASSERT_TRUE(before.ok());
  // Another CA's certificate in its place (a rotation): a new file, other inode or size or time.
  const std::string staged = trust + ".new";
  copy_file(dir.second.ca_cert, staged);
  std::filesystem::rename(staged, trust);
  auto after = cache.get(trusting(trust));
  ASSERT_TRUE(after.ok());
  EXPECT_NE(before->get(), after->get());
  EXPECT_EQ(cache.size(), 1u);  // the entry was replaced, not added
  auto again = cache.get(trusting(trust));
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(after->get(), again->get());
}

TEST(ClientCredentialsCache, AnInPlaceRewriteThatKeepsSizeAndModificationTimeStillYieldsFreshCredentials) {
  const CertificateDirectory dir;
  const std::string trust = (dir.root / "in-place.pem").string();
  copy_file(dir.first.ca_cert, trust);
  ClientCredentialsCache cache;
  auto before = cache.get(trusting(trust));
  ASSERT_TRUE(before.ok());
  // Same inode, same size, modification time put back (as `cp -p` or `rsync -t --inplace` do):
  // only the status-change time tells.
  const auto modified = std::filesystem::last_write_time(trust);
  const auto size = std::filesystem::file_size(trust);
  const std::int64_t stamped = changed_ns(trust);
  // File times come from the kernel's coarse clock: a rewrite within the same tick as the stamp
  // cannot be told apart, so this rewrites until the status-change time has moved (bounded).
  for (int attempt = 0; attempt < 100000 && changed_ns(trust) == stamped; ++attempt) {
    std::fstream file(trust, std::ios::in | std::ios::out | std::ios::binary);
    file.seekp(0);
    file.put('-');  // the PEM header's first byte, rewritten as itself
    file.close();
    std::filesystem::last_write_time(trust, modified);
  }
  ASSERT_NE(changed_ns(trust), stamped);
  ASSERT_EQ(std::filesystem::file_size(trust), size);
  ASSERT_EQ(std::filesystem::last_write_time(trust), modified);
  auto after = cache.get(trusting(trust));
  ASSERT_TRUE(after.ok());
  EXPECT_NE(before->get(), after->get());
}

TEST(ClientCredentialsCache, AFailedBuildIsNotCachedAndALaterOneSucceeds) {
  const CertificateDirectory dir;
  const std::string trust = (dir.root / "later.pem").string();
  ClientCredentialsCache cache;
  auto missing = cache.get(trusting(trust));
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().kind(), ErrorKind::kConfig);
  EXPECT_NE(missing.error().message().find(trust), std::string::npos) << missing.error().message();
  {
    std::ofstream garbage(trust);
    garbage << "not a certificate\n";
  }
  auto bad = cache.get(trusting(trust));
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(cache.size(), 0u);
  copy_file(dir.first.ca_cert, trust + ".new");
  std::filesystem::rename(trust + ".new", trust);
  auto good = cache.get(trusting(trust));
  ASSERT_TRUE(good.ok()) << good.error().to_string();
  EXPECT_EQ(cache.size(), 1u);
}

TEST(ClientCredentialsCache, TheLeastRecentlyUsedEntryIsDroppedAtCapacity) {
  const CertificateDirectory dir;
  ClientCredentialsCache cache(2);
  auto a = cache.get(trusting(dir.first.ca_cert, "a"));
  auto b = cache.get(trusting(dir.first.ca_cert, "b"));
  ASSERT_TRUE(a.ok() && b.ok());
  ASSERT_TRUE(cache.get(trusting(dir.first.ca_cert, "a")).ok());  // a is now the most recent
  auto c = cache.get(trusting(dir.first.ca_cert, "c"));           // b goes
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(cache.size(), 2u);
  auto a_again = cache.get(trusting(dir.first.ca_cert, "a"));
  auto b_again = cache.get(trusting(dir.first.ca_cert, "b"));
  ASSERT_TRUE(a_again.ok() && b_again.ok());
  EXPECT_EQ(a_again->get(), a->get());
  EXPECT_NE(b_again->get(), b->get());
}

TEST(ClientCredentialsCache, ZeroCapacityBuildsEveryTime) {
  const CertificateDirectory dir;
  ClientCredentialsCache cache(0);
  auto a = cache.get(trusting(dir.first.ca_cert));
  auto b = cache.get(trusting(dir.first.ca_cert));
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_NE(a->get(), b->get());
  EXPECT_EQ(cache.size(), 0u);
}

}  // namespace
}  // namespace rpcnet::quic

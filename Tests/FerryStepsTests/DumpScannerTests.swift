import Testing
@testable import FerrySteps

@Suite("mysqldump scanning and table structure", .timeLimit(.minutes(3)))
struct DumpScannerTests {
    static let dump = """
    /*M!999999\\- enable the sandbox mode */ 
    -- MariaDB dump 10.19
    /*!40101 SET NAMES utf8mb4 */;
    /*!40103 SET TIME_ZONE='+00:00' */;
    /*!40101 SET @OLD_SQL_MODE=@@SQL_MODE, SQL_MODE='NO_AUTO_VALUE_ON_ZERO' */;

    CREATE DATABASE /*!32312 IF NOT EXISTS*/ `shop` /*!40100 DEFAULT CHARACTER SET utf8mb4 */;

    USE `shop`;
    DROP TABLE IF EXISTS `orders`;
    /*!40101 SET @saved_cs_client     = @@character_set_client */;
    CREATE TABLE `orders` (
      `id` int(11) NOT NULL AUTO_INCREMENT,
      `customer` int(11) NOT NULL,
      `note` varchar(200) DEFAULT NULL,
      PRIMARY KEY (`id`),
      UNIQUE KEY `u` (`note`),
      KEY `customer` (`customer`)
    ) ENGINE=InnoDB AUTO_INCREMENT=4 DEFAULT CHARSET=utf8mb4;
    /*!40101 SET character_set_client = @saved_cs_client */;
    LOCK TABLES `orders` WRITE;
    /*!40000 ALTER TABLE `orders` DISABLE KEYS */;
    INSERT INTO `orders` VALUES
    (1,7,'a;b),(c'),
    (2,8,'it\\'s (quoted); really'),
    (3,9,NULL);
    /*!40000 ALTER TABLE `orders` ENABLE KEYS */;
    UNLOCK TABLES;
    DELIMITER ;;
    /*!50003 CREATE*/ /*!50003 TRIGGER `t1` BEFORE INSERT ON `orders` FOR EACH ROW BEGIN SET NEW.note = 'x'; END */;;
    DELIMITER ;
    /*!40101 SET SQL_MODE=@OLD_SQL_MODE */;

    -- Dump completed on 2026-11-21 15:45:39

    """

    @Test("statements are classified: session settings, schema, data ranges with row counts, triggers after the data")
    func classifies() {
        let bytes = Array(Self.dump.utf8)
        let plan = bytes.withUnsafeBytes { SQLDumpScanner.scan($0) }
        #expect(plan.completed)
        #expect(!plan.truncatedStatement)
        #expect(plan.sourceDatabase == "shop")
        #expect(plan.databaseOptions == "DEFAULT CHARACTER SET utf8mb4")
        #expect(plan.sessionSettings == ["SET NAMES utf8mb4", "SET TIME_ZONE='+00:00'", "SET @OLD_SQL_MODE=@@SQL_MODE, SQL_MODE='NO_AUTO_VALUE_ON_ZERO'"])
        #expect(plan.tables.map(\.name) == ["orders"])
        #expect(plan.tables[0].rows == 3, "quotes, escaped quotes, ';' and ')' inside strings do not count as rows or ends")
        #expect(plan.tables[0].insertRanges.count == 1)
        let insert = String(decoding: bytes[plan.tables[0].insertRanges[0]], as: UTF8.self)
        #expect(insert.hasPrefix("INSERT INTO `orders` VALUES") && insert.hasSuffix("(3,9,NULL);"))
        #expect(plan.schemaStatements.count == 5)
        #expect(plan.tables[0].createStatement.hasPrefix("CREATE TABLE `orders`"))
        #expect(plan.postScript.contains("DELIMITER ;;") && plan.postScript.contains("TRIGGER `t1`") && plan.postScript.contains("DELIMITER ;\n"))
    }

    @Test("a dump cut off mid-statement or without the completion line is reported")
    func incomplete() {
        let cut = String(Self.dump.prefix(upTo: Self.dump.range(of: "(2,8")!.lowerBound))
        let plan = Array(cut.utf8).withUnsafeBytes { SQLDumpScanner.scan($0) }
        #expect(!plan.completed)
        #expect(plan.truncatedStatement)
    }

    @Test("secondary keys are deferred; primary, unique and AUTO_INCREMENT keys stay; foreign-key tables are left alone")
    func deferKeys() {
        let create = """
        CREATE TABLE `orders` (
          `id` int(11) NOT NULL AUTO_INCREMENT,
          `customer` int(11) NOT NULL,
          `note` varchar(200) DEFAULT NULL,
          PRIMARY KEY (`id`),
          UNIQUE KEY `u` (`note`),
          KEY `customer` (`customer`),
          KEY `both` (`customer`,`note`)
        ) ENGINE=InnoDB AUTO_INCREMENT=4 DEFAULT CHARSET=utf8mb4;
        """
        let d = TableStructure.deferSecondaryKeys(create, table: "orders")
        #expect(!d.createStatement.contains("KEY `customer`"))
        #expect(d.createStatement.contains("UNIQUE KEY `u` (`note`)\n) ENGINE"))
        #expect(d.addKeys == "ALTER TABLE `orders` ADD KEY `customer` (`customer`), ADD KEY `both` (`customer`,`note`)")
        let fk = create.replacingOccurrences(of: "  KEY `both` (`customer`,`note`)", with: "  KEY `both` (`customer`,`note`),\n  CONSTRAINT `f` FOREIGN KEY (`customer`) REFERENCES `c` (`id`)")
        #expect(TableStructure.deferSecondaryKeys(fk, table: "orders").addKeys == nil)
    }

    @Test("the structure digest ignores AUTO_INCREMENT, case, spacing and comment markers but not a column change")
    func digest() {
        let a = "CREATE TABLE `t` (\n  `id` int(11) NOT NULL,\n  PRIMARY KEY (`id`)\n) ENGINE=InnoDB AUTO_INCREMENT=5 DEFAULT CHARSET=latin1;"
        let b = "create table `t` (  `id` int(11) NOT NULL, PRIMARY KEY (`id`) ) ENGINE=InnoDB AUTO_INCREMENT=900 DEFAULT CHARSET=latin1"
        let c = a.replacingOccurrences(of: "int(11)", with: "bigint(20)")
        #expect(TableStructure.digest(a) == TableStructure.digest(b))
        #expect(TableStructure.digest(a) != TableStructure.digest(c))
        #expect(TableStructure.digest(a).count == 64)
    }
}

@Suite("INSERT to LOAD DATA text", .timeLimit(.minutes(3)))
struct InsertToTSVTests {
    func convert(_ sql: String) -> (String, InsertToTSV.Header)? {
        var out: [UInt8] = []
        let h = Array(sql.utf8).withUnsafeBytes { InsertToTSV.convert($0, into: &out) }
        return h.map { (String(decoding: out, as: UTF8.self), $0) }
    }

    @Test("rows become tab-separated lines: NULL → \\N, raw tabs escaped, SQL escapes kept, doubled quotes folded, column lists kept")
    func rows() {
        let r = convert("INSERT INTO `t` VALUES (1,'a\tb',NULL,-2.5e3),\n(2,'it\\'s ''x''\\n',''  , 0);")
        #expect(r?.0 == "1\ta\\tb\t\\N\t-2.5e3\n2\tit\\'s 'x'\\n\t\t0\n")
        #expect(r?.1.columns == nil)
        #expect(convert("INSERT INTO `t` (`a`, `b`) VALUES (1,2);")?.1.columns == "`a`, `b`")
    }

    @Test("hex and bit literals, expressions and cut-off statements are not converted (sent as SQL instead)")
    func refuses() {
        #expect(convert("INSERT INTO `t` VALUES (0xABCD,1);") == nil)
        #expect(convert("INSERT INTO `t` VALUES (b'101',1);") == nil)
        #expect(convert("INSERT INTO `t` VALUES (NOW(),1);") == nil)
        #expect(convert("INSERT INTO `t` VALUES (1,'open") == nil)
    }
}
